import type { Report } from './model.js';

/** The JSON report as written to `--json FILE`. */
export const renderJson = (report: Report): string => `${JSON.stringify(report, null, 2)}\n`;
