import { readFileSync, writeFileSync } from 'node:fs';
import { UsageError } from './errors.js';
import { renderHtml } from './report/html.js';
import { renderMarkdown } from './report/markdown.js';
import { REPORT_FORMAT, digestMatches, type Report } from './report/model.js';

export type ReportFormat = 'html' | 'md';

/** The format a report file's name asks for: `.html`/`.htm` or `.md`. */
export function formatOfFile(file: string): ReportFormat {
  if (/\.html?$/i.test(file)) return 'html';
  if (/\.(md|markdown)$/i.test(file)) return 'md';
  throw new UsageError(`--report ${file}: name the file .html or .md, for the format you want`);
}

export const renderReport = (report: Report, format: ReportFormat): string => (format === 'html' ? renderHtml(report) : renderMarkdown(report));

/** Writes the report in the format its file name asks for. */
export function writeReport(report: Report, file: string): void {
  writeFileSync(file, renderReport(report, formatOfFile(file)));
}

/**
 * `preflight report RESULT.json`: renders a saved JSON report again. A copy whose content no longer
 * matches its digest was changed after the run and is refused, so what a customer is shown is
 * what was measured.
 */
export function reportCommand(file: string, options: { format?: ReportFormat; out?: string }): void {
  let report: Report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  } catch (error) {
    throw new UsageError(`${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  if (report.format !== REPORT_FORMAT) {
    throw new UsageError(`${file}: not a ${REPORT_FORMAT} result (its format is ${JSON.stringify(report.format)}): write it with preflight run --json FILE`);
  }
  if (!digestMatches(report)) {
    throw new UsageError(`${file}: its content does not match its digest: it was changed after the run. Render the original.`);
  }
  const format = options.format ?? (options.out ? formatOfFile(options.out) : 'html');
  const text = renderReport(report, format);
  if (options.out) writeFileSync(options.out, text);
  else process.stdout.write(text);
}
