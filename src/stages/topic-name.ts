/** Kafka's legal topic characters. */
const LEGAL_TOPIC = /^[A-Za-z0-9._-]+$/

/**
 * The topic as a single path segment. Kafka topic names are already safe ([a-zA-Z0-9._-], not "." or ".."),
 * so this is the identity in practice; anything else (a foreign source, a test) is percent-encoded, dots
 * included, so it can never introduce '/', '..' or control characters into an object key.
 */
export function safeTopicSegment (topic: string): string {
  if (LEGAL_TOPIC.test(topic) && topic !== '.' && topic !== '..') return topic
  if (topic === '') return '%00'
  return topic.replace(/[^A-Za-z0-9_-]/g, ch => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
}
