#!/usr/bin/env node
// The daemon's entry point from any working directory: registers the TypeScript loader, then runs main.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
