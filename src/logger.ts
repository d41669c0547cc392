import { pino, type DestinationStream } from 'pino';

/** JSON lines on stdout. Anything that could carry a secret is redacted by path, whatever the caller logs. */
export function createLogger(level: string, destination?: DestinationStream) {
  return pino(
    {
      level,
      base: { service: 'rearguard' },
      redact: {
        paths: [
          'authorization',
          '*.authorization',
          'headers.authorization',
          'token',
          '*.token',
          'password',
          '*.password',
          'extraVars',
          '*.extraVars',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type Log = ReturnType<typeof createLogger>;
