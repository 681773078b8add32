import { z } from 'zod';
import { rolesOf, sharedPath } from './paths.js';

export { rolesOf } from './paths.js';

/** Identifier of a profile format; a profile names the one it is written in. */
export const PROFILE_FORMAT = 'preflight-profile/1';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, 'use lower-case letters, digits and dashes, starting with a letter');

const port = z.number().int().min(1).max(65535);
const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'a range is written "LOW-HIGH", e.g. "29001-29007"')
  .refine((text) => {
    const [low, high] = text.split('-').map(Number) as [number, number];
    return low >= 1 && high <= 65535 && low <= high;
  }, 'a range runs from a low port to a higher one, within 1-65535');

const roles = z.union([name, z.array(name).min(1)]);

export const roleSchema = z
  .object({
    description: z.string().min(1),
    /** `agent`: a server that runs preflight-agent; `external`: a target that does not (DNS, NTP). */
    kind: z.enum(['agent', 'external']).default('agent').describe('agent: runs preflight-agent; external: a target that does not (DNS, NTP, SQL)'),
    /** An agent role a site may not have (a separate communication server): without a node, its checks are reported not tested. */
    optional: z.boolean().default(false).describe('a role a site may not have: with no --node for it, its checks are reported as not tested'),
  })
  .strict();

export const networkSchema = z
  .object({
    description: z.string().min(1),
  })
  .strict();

export const requirementSchema = z
  .object({
    /** Stable id, unique in the profile: it joins the JSON report to the profile. */
    id: name.describe('unique in the profile; joins the JSON report to the profile'),
    protocol: z.enum(['tcp', 'udp', 'icmp']),
    /** Ports and "LOW-HIGH" ranges; absent for icmp. */
    ports: z.array(z.union([port, portRange])).min(1).optional().describe('ports and "LOW-HIGH" ranges; absent for icmp'),
    /** The role, or roles, that open the connection or send the datagram. */
    from: roles.describe('the role, or roles, that open the connection or send the datagram'),
    /** The role, or roles, that receive it. */
    to: roles.describe('the role, or roles, that receive it'),
    /** The networks the path is checked on; default: the profile's first network. */
    networks: z.array(name).min(1).optional().describe("the profile's networks this path is checked on (default: the first)"),
    /** `both`: also checked from `to` to `from`. */
    direction: z.enum(['both', 'one-way']).default('both').describe('both: also checked from `to` to `from`'),
    purpose: z.string().min(1),
    /** A required check that is not open fails the site; an optional one is only reported. */
    required: z.boolean().default(true).describe('an optional check is reported but never fails a site'),
    /** `closed`: the path must be blocked (a DMZ that must not open connections back). */
    expect: z.enum(['open', 'closed']).default('open').describe('closed: the path must be blocked, and passes only when it is'),
    /** The document and the table or section the port comes from. */
    source: z.string().min(1).describe('the source document, and the table or section the port comes from'),
    note: z.string().optional(),
  })
  .strict();

const profileBase = z
  .object({
    format: z.literal(PROFILE_FORMAT),
    name,
    title: z.string().min(1),
    version: z.string().min(1),
    description: z.string().optional(),
    roles: z.record(name, roleSchema),
    /**
     * The networks between the nodes, where a node has an address on more than one (a cluster's
     * public LAN and its interconnect). The first is the one `--node ROLE=HOST` names.
     */
    networks: z.record(name, networkSchema).optional().describe('networks between the nodes; the first is the one --node ROLE=HOST names, others take --node ROLE@NETWORK=HOST'),
    requirements: z.array(requirementSchema).min(1),
    /** Site questions the report answers from what was measured (AMAG's NEC guide, Appendices A and B). */
    questions: z.array(z.enum(['nec-appendix-a', 'nec-appendix-b'])).optional().describe('site questions the report answers from the measurements'),
  })
  .strict();

export const profileSchema = profileBase.superRefine((profile, ctx) => {
  const seen = new Set<string>();
  profile.requirements.forEach((req, index) => {
    const at = (...path: (string | number)[]) => ['requirements', index, ...path];
    if (seen.has(req.id)) ctx.addIssue({ code: 'custom', path: at('id'), message: `id "${req.id}" is used twice` });
    seen.add(req.id);
    for (const end of ['from', 'to'] as const) {
      for (const role of rolesOf(req[end]).filter((each) => !(each in profile.roles))) {
        const known = Object.keys(profile.roles).join(', ');
        ctx.addIssue({ code: 'custom', path: at(end), message: `role "${role}" is not in roles (${known})` });
      }
    }
    // A role that runs no agent can neither send a probe nor, with `direction: both`, be sent
    // back from: the planner would have nothing to plan for it, so it is refused here.
    const external = (role: string) => profile.roles[role]?.kind === 'external';
    for (const role of rolesOf(req.from).filter(external)) {
      ctx.addIssue({ code: 'custom', path: at('from'), message: `role ${role} runs no agent: it can only be in \`to\`` });
    }
    if (req.direction === 'both') {
      for (const role of rolesOf(req.to).filter(external)) {
        ctx.addIssue({ code: 'custom', path: at('direction'), message: `role ${role} runs no agent: it can only be in \`to\` of a one-way requirement` });
      }
    }
    for (const network of req.networks ?? []) {
      if (!profile.networks || !(network in profile.networks)) {
        const known = profile.networks ? `networks: ${Object.keys(profile.networks).join(', ')}` : 'the profile declares no networks';
        ctx.addIssue({ code: 'custom', path: at('networks'), message: `network "${network}" is not declared (${known})` });
      }
    }
    if (req.protocol === 'icmp' && req.ports) {
      ctx.addIssue({ code: 'custom', path: at('ports'), message: 'icmp has no ports: remove them' });
    }
    if (req.protocol !== 'icmp' && !req.ports) {
      ctx.addIssue({ code: 'custom', path: at('ports'), message: `${req.protocol} needs ports` });
    }
  });
  checkSharedPaths(profile, ctx);
});

/**
 * A path two requirements share is probed once (the planner keeps the first), so they must agree
 * on what it should be: one saying open and the other closed cannot both be honoured.
 */
function checkSharedPaths(profile: z.output<typeof profileBase>, ctx: z.RefinementCtx): void {
  const first = primaryNetwork(profile);
  const on = (req: Requirement) => networksOf(profile, req);
  profile.requirements.forEach((later, index) => {
    for (const earlier of profile.requirements.slice(0, index)) {
      if (earlier.expect === later.expect) continue;
      const path = sharedPath(earlier, on(earlier), later, on(later));
      if (!path) continue;
      const what = `${later.protocol}${path.port === null ? '' : `/${path.port}`} ${path.from}->${path.to}${path.network && path.network !== first ? ` on ${path.network}` : ''}`;
      ctx.addIssue({
        code: 'custom',
        path: ['requirements', index, 'expect'],
        message: `requirements "${earlier.id}" and "${later.id}" both check ${what}, but "${earlier.id}" expects it ${earlier.expect} and "${later.id}" ${later.expect}: a path is checked once, so they must agree`,
      });
      return;
    }
  });
}

/** A profile as validated: defaults filled in. */
export type Profile = z.infer<typeof profileSchema>;
export type Requirement = z.infer<typeof requirementSchema>;
export type Role = z.infer<typeof roleSchema>;

/** The networks a requirement is checked on, or [null] where the profile declares none. */
export function networksOf(profile: Pick<Profile, 'networks'>, req: Requirement): (string | null)[] {
  return req.networks ?? [primaryNetwork(profile)];
}

/** The network `--node ROLE=HOST` names: the profile's first, or null where it declares none. */
export const primaryNetwork = (profile: Pick<Profile, 'networks'>): string | null => Object.keys(profile.networks ?? {})[0] ?? null;
