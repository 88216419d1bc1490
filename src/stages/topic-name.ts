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

/**
 * Top-level directories below the sink prefix that are not topics: the error output (`_errors/{topic}/...`) and
 * Sediment's own objects (`_sediment/`: intents, manifests, uploads). A topic with one of these names would write
 * its data among them, and its sweep and verify would take the other topics' error output for its own.
 */
export const RESERVED_TOPIC_NAMES: readonly string[] = ['_errors', '_sediment']

/** Why `topic` cannot be archived (its directory would collide), or undefined when it can. */
export function reservedTopicProblem (topic: string): string | undefined {
  if (!RESERVED_TOPIC_NAMES.includes(safeTopicSegment(topic))) return undefined
  return `topic "${topic}" cannot be archived: "${topic}/" below the prefix is reserved for ${topic === '_errors' ? 'the error output of every topic' : "Sediment's own objects"}; ` +
    'leave it out (a topicPattern can exclude it, e.g. "^(?!_errors$|_sediment$).*") or mirror it to a topic with another name'
}
