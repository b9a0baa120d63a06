import { TaskHaltedError } from '@datamesh/core';

/** What the sink was doing when Kafka refused it. */
export type SinkAction = 'describe' | 'create' | 'write' | 'transaction' | 'commit offsets';

/** Who the sink is to the cluster, for messages (never a secret). */
export interface SinkPrincipal {
  /** e.g. `the Kafka user "orders-sink"`, or `this node's Kafka principal`. */
  readonly who: string;
  /** The cluster, e.g. `at kafka-1:9092` (empty for the node's own transport). */
  readonly where: string;
}

export interface PermissionContext {
  readonly principal: SinkPrincipal;
  readonly topic: string;
  readonly transactionalId?: string;
  readonly group?: string;
}

/**
 * The first Kafka error code (`TOPIC_AUTHORIZATION_FAILED`, …) in the error's chain that `matches` — kafkajs
 * wraps protocol errors (`cause`, `originalError`) and gathers per-topic ones (`errors`).
 */
export function kafkaErrorType(
  error: unknown,
  matches: (type: string) => boolean,
  depth = 0,
): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 8) return undefined;
  const e = error as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof e.type === 'string' && matches(e.type)) return e.type;
  for (const inner of [e.cause, e.originalError, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const type = kafkaErrorType(inner, matches, depth + 1);
    if (type) return type;
  }
  return undefined;
}

/** The code of an authorization refusal anywhere in the error's chain. */
export function authorizationCode(error: unknown): string | undefined {
  return kafkaErrorType(error, (type) => type.endsWith('_AUTHORIZATION_FAILED'));
}

const VERBS: Record<SinkAction, string> = {
  describe: 'describe',
  create: 'create',
  write: 'write',
  transaction: 'write transactionally to',
  'commit offsets': 'commit input offsets with',
};

/**
 * An authorization refusal as an error that names the principal, the resource and the ACL to grant. It halts
 * the task (restarting cannot help until someone grants it); any other error comes back as it was.
 */
export function explainRefusal(error: unknown, action: SinkAction, context: PermissionContext): unknown {
  const code = authorizationCode(error);
  if (!code) return error;
  const { who, where } = context.principal;
  const at = where ? ` ${where}` : '';
  const topic = `topic "${context.topic}"`;
  const topicAcls =
    'grant it WRITE and DESCRIBE on the topic (DESCRIBE_CONFIGS too, which the sink reads when it starts), and CREATE if the sink should create it';
  let message: string;
  switch (code) {
    case 'TOPIC_AUTHORIZATION_FAILED':
      message = `${who}${at} may not ${VERBS[action]} ${topic} (${code}): ${topicAcls}`;
      break;
    case 'CLUSTER_AUTHORIZATION_FAILED':
      message =
        action === 'create'
          ? `${who}${at} may not create ${topic} (${code}): grant it CREATE on the topic or the cluster, or create the topic beforehand`
          : `${who}${at} may not ${VERBS[action]} ${topic} (${code}): grant it WRITE on the topic (IDEMPOTENT_WRITE on the cluster for brokers before 3.0)`;
      break;
    case 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED':
      message = `${who}${at} may not use transactional id "${context.transactionalId ?? '?'}" to write ${topic} (${code}): grant it WRITE and DESCRIBE on that TransactionalId, or set exactlyOnce: false`;
      break;
    case 'GROUP_AUTHORIZATION_FAILED':
      message = `${who}${at} may not commit the offsets of consumer group "${context.group ?? '?'}" in its transaction on ${topic} (${code}): grant it READ on that group`;
      break;
    default:
      message = `${who}${at} may not ${VERBS[action]} ${topic} (${code}): grant the ACL Kafka names in ${code}`;
  }
  return new TaskHaltedError(message, { cause: error });
}
