// A second line of defence: the history is redacted when it is written, but the queue's admin API
// returns the headers the app sent, and an app may put its own credentials there. The one
// redaction function (common/history.ts) is applied again before anything reaches a page or the
// plugin's output.
export { isSecretHeader, redactHeaders, redactRecord } from '../../common/history.ts';
