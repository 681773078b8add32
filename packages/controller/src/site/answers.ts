import type { Profile } from '../profile/schema.js';
import type { RunResult } from '../run.js';
import type { SiteAnswers } from './types.js';

/** The site answers a run supports. Pure. (Filled in step by step: pairs, Appendix A, Appendix B.) */
export function answerSiteQuestions(_profile: Profile, _run: RunResult): SiteAnswers {
  return { pairs: [] };
}
