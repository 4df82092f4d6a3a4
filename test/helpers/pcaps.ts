// Where the shared public captures live (`../shared/pcaps` beside the repository, or
// $PALISADE_PCAPS); the tests that use them skip when the folder is absent.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const PCAPS = process.env.PALISADE_PCAPS ?? join(REPO, '..', 'shared', 'pcaps');
export const HAVE_PCAPS = existsSync(join(PCAPS, 'labels.json'));
