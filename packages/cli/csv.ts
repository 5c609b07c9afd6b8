/**
 * CSV for exports a person opens in a spreadsheet (RFC 4180, but with LF line ends: the CLI's text
 * output shows a carriage return escaped, and spreadsheets read LF): a header row, and a field
 * quoted when it holds a comma, a quote or a line break. A field that starts with =, +, -
 * or @ is prefixed with a quote mark so a spreadsheet shows it rather than running it as a formula
 * (CSV injection); the chain's values are ids and codes, but nothing here relies on that.
 */

function field(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** The table as CSV text: `columns` as its header, then each row. */
export function csvTable(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  return [columns, ...rows].map((row) => `${row.map(field).join(',')}\n`).join('');
}
