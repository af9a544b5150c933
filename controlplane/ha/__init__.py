"""High availability on PostgreSQL: replicas that follow one shared ledger, one of which leads.

Follower     keeps a replica's controller caught up (NOTIFY as a doorbell, and a poll)
Leadership   elects the leader (advisory lock) and gives it a term, the fencing token
SharedStats  every replica's stats readings, summed for the leader's evaluator
SharedFreeze the budget freeze: judged by the leader, enforced by every replica
PostgresCursor  how far webhook delivery got, for the next leader
"""

from controlplane.ha._cursor import PostgresCursor
from controlplane.ha._follow import Follower
from controlplane.ha._freeze import SharedFreeze
from controlplane.ha._leadership import Leadership, this_replica
from controlplane.ha._replica import Replica, delivery_cursor, replica_of, share_stats
from controlplane.ha._stats import SharedStats

__all__ = [
    "Follower",
    "Leadership",
    "PostgresCursor",
    "Replica",
    "SharedFreeze",
    "SharedStats",
    "delivery_cursor",
    "replica_of",
    "share_stats",
    "this_replica",
]
