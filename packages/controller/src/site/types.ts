/**
 * The site answers a report carries: what the measurements say about the questions an engineer
 * must answer before travelling (AMAG's redundancy guide, 000_f072ccf0c52f8061.txt, Appendices A
 * and B). Computed from the run by a pure function; rendered by every report format.
 */

/** An answer with what it rests on, so a customer's network team can check it. */
export type Answer = { answer: 'yes' | 'no' | 'unknown'; basis: string };

/** What was measured between two agents. */
export type PairFacts = {
  a: string;
  b: string;
  /** Does either server's address (as the other reached it) fall in the other's own subnet. */
  sameSubnet: Answer;
  /** Round trip between them, from ICMP echo where it passed, else a TCP connect; null when neither was measured. */
  rttMs: number | null;
  rttSource: 'icmp' | 'tcp' | null;
  /** b's clock minus a's, in ms, each measured against the controller's; null when unknown. */
  clockOffsetMs: number | null;
};

/** Appendix A: the questions that choose NEC's LAN or WAN edition. */
export type AppendixA = {
  /** In the guide's order: layer 3 between the servers? same subnet? more than 8 miles apart? */
  questions: { question: string; answer: Answer }[];
  edition: 'LAN' | 'WAN' | 'unknown';
  reasons: string[];
};

/** One fact of the servers, side by side. */
export type FactRow = { fact: string; values: Record<string, string>; differs: boolean };

/** Appendix B: the requirements the on-site engineer verifies. */
export type AppendixB = {
  identical: { rows: FactRow[]; answer: Answer };
  sameDomain: Answer;
  adminRights: Answer;
  /** The Symmetry communication server is not on the application or database server. */
  commServerSeparate: Answer;
};

export type SiteAnswers = {
  pairs: PairFacts[];
  /** Present for profiles that ask the AMAG/NEC questions (nec-symmetry). */
  appendixA?: AppendixA;
  appendixB?: AppendixB;
};
