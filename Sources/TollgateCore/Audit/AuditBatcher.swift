import Logging
import ServiceLifecycle
import Synchronization

/// Group-commits unpaid-path audit events: they are buffered and written at most `interval` later,
/// so issuing a 402 writes nothing synchronously. Paid-path events never go through here.
///
/// Recording takes a lock, not an actor hop: a 402 leaves its event without leaving its event loop (an actor made every
/// unpaid request hop to the actor's executor and back). While the store takes writes, memory stays bounded: when
/// `capacity` events are waiting, `record` waits for a flush instead of growing the buffer (a flood slows down rather
/// than exhausting memory or losing events). A batch the store refuses is kept for the next flush, so during an outage
/// the buffer grows with every unpaid request.
public final class AuditBatcher: Service, Sendable {
    private let store: any TollgateStore
    private let interval: Duration
    private let capacity: Int
    private let logger: Logger
    private let buffer: Mutex<[AuditEvent]>

    public init(store: any TollgateStore, interval: Duration = .milliseconds(200), capacity: Int = 8192, logger: Logger) {
        self.store = store
        self.interval = interval
        self.capacity = max(1, capacity)
        self.logger = logger
        var empty: [AuditEvent] = []
        empty.reserveCapacity(256)
        buffer = Mutex(empty)
    }

    public func record(_ events: AuditEvent...) async {
        let full = buffer.withLock { buffer in
            buffer.append(contentsOf: events)
            return buffer.count >= capacity
        }
        if full { await flush() }
    }

    /// Writes everything buffered now.
    public func flush() async {
        let batch = buffer.withLock { buffer in
            var taken: [AuditEvent] = []
            taken.reserveCapacity(256)
            swap(&taken, &buffer)
            return taken
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.append(batch)
        } catch {
            // Put the batch back so nothing is lost while the store is down; the next flush retries.
            logger.error("audit batch not written", metadata: ["tollgate.events": "\(batch.count)", "tollgate.error": "\(error)"])
            buffer.withLock { $0.insert(contentsOf: batch, at: 0) }
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                // Written outside this task, so a shutdown arriving mid-write never cancels the write.
                await Task { await self.flush() }.value
            }
        }
        // The last batch is written outside the cancelled task, so shutting down never drops events.
        await Task { await self.flush() }.value
    }
}
