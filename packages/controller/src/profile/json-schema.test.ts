import { readFileSync } from 'node:fs';
import { profileJsonSchema } from './json-schema.js';

describe('the JSON Schema for editors', () => {
  it('is the one committed in profiles/ (regenerate: npx preflight profiles schema > profiles/profile.schema.json)', () => {
    const committed = readFileSync(new URL('../../../../profiles/profile.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(profileJsonSchema());
  });
});
