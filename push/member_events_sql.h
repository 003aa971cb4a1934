/* SQL fragments shared by the two ways a client catches up on the event log: a resume's
 * backlog (push/job_batch.c) and a long-poll (push/jobs.c). */
#ifndef PUSH_MEMBER_EVENTS_SQL_H
#define PUSH_MEMBER_EVENTS_SQL_H

/* Joins q (a row with the user q.u) to the events of every conversation that user takes
 * part in, within RANGE (conditions on e and q). The plan is spelled out, because
 * MariaDB's own choices read whole histories: joined by `e.conversation_id =
 * p.conversation_id` it takes that as a ref and walks every event the conversation ever
 * had (about 1 s per member of a group of 300,000 events), and when it drives from events
 * instead, it reads the whole window of every conversation (390 ms per batch after a
 * storm's 10,000 presence events in one slow bench run). Written as the one-point
 * interval >= and <=, with no bound on e that is a constant (so q carries the bounds,
 * from a JSON_TABLE row, not parameters), the join is "range checked for each record":
 * per participant row, one range of the index INDEX_HINT names, or of the best one. */
#define MEMBER_EVENTS_JOIN(INDEX_HINT, RANGE)                                              \
    " STRAIGHT_JOIN participants p ON p.user_id = q.u STRAIGHT_JOIN events e " INDEX_HINT \
    " ON e.conversation_id >= p.conversation_id AND e.conversation_id <= p.conversation_id " \
    " AND " RANGE

/* SELECT COLUMNS of the participant.removed events within RANGE (conditions on e) whose
 * user no longer takes part in the conversation, read over INDEX: a user who was away
 * learns from them that they left. One range per statement: written as `(id > n OR
 * created_at >= c) AND id <= h`, MariaDB at times took `id <= h` as its range and read
 * the whole table. */
#define REMOVED_EVENTS(COLUMNS, INDEX, RANGE)                                               \
    "SELECT " COLUMNS " FROM events e FORCE INDEX (" INDEX ") "                            \
    "WHERE e.type = 'participant.removed' AND " RANGE " AND NOT EXISTS (SELECT 1 FROM "    \
    "participants x WHERE x.conversation_id = e.conversation_id "                         \
    "AND x.user_id = JSON_VALUE(e.payload, '$.user_id'))"

#endif
