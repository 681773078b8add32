import { z } from 'zod';

/**
 * What an agent tells of the server it runs on, for the customer's requirements verification
 * (Appendix B: "both servers must be identical", "on the same domain", administrative rights).
 * Every fact the agent could not learn is null, and `unknown` says why, by field name, so a report
 * prints "unknown" with the reason instead of guessing.
 */
export const hostFactsSchema = z.object({
  hostname: z.string(),
  os: z.object({
    /** Node's `process.platform`: `linux`, `win32`, `darwin`. */
    platform: z.string(),
    /** The OS's own name and version, e.g. "Windows Server 2019 Standard 10.0.17763" or "Debian GNU/Linux 12 (bookworm)". */
    name: z.string().nullable(),
    /** Kernel release (`os.release()`). */
    release: z.string(),
    arch: z.string(),
  }),
  cpu: z.object({ model: z.string().nullable(), cores: z.number().int().nonnegative() }),
  memoryBytes: z.number().nonnegative(),
  /** Fixed disks: mount point (or drive letter), size and free space. */
  disks: z.array(z.object({ mount: z.string(), sizeBytes: z.number().nonnegative(), freeBytes: z.number().nonnegative() })).nullable(),
  /** Every non-internal address, with its prefix length. */
  interfaces: z.array(
    z.object({
      name: z.string(),
      family: z.enum(['IPv4', 'IPv6']),
      address: z.string(),
      prefix: z.number().int().min(0).max(128),
      mac: z.string(),
    }),
  ),
  /** Domain or workgroup membership (Windows), or the DNS domain / realm where Linux knows one. */
  membership: z.object({ kind: z.enum(['domain', 'workgroup', 'none']), name: z.string().nullable() }).nullable(),
  /** The agent runs with administrative rights (root; an elevated Administrator on Windows). */
  admin: z.boolean().nullable(),
  /** The server's clock when the facts were read, ISO 8601 with its UTC offset, and its time zone. */
  localTime: z.string(),
  timeZone: z.string().nullable(),
  /** Why each null fact is null, by field name (`disks`, `membership`, `admin`, `os.name`, `cpu.model`). */
  unknown: z.record(z.string(), z.string()),
});

/** A server's facts as its agent read them. */
export type HostFacts = z.infer<typeof hostFactsSchema>;
