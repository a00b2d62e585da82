import Logging
import ServiceLifecycle
import Synchronization

/// Group-commits the audit events of requests that end without a write of their own (402s, refusals, refused proofs,
/// answers passed on): they are buffered and written at most `interval` later, so issuing a 402 writes nothing
/// synchronously. Events of a paid flow's steps are committed with the flow's own writes, not here.
///
/// Recording takes a lock, not an actor hop: a 402 leaves its event without leaving its event loop (an actor made every
/// unpaid request hop to the actor's executor and back). One write runs at a time, and memory stays bounded whatever
/// the store does: at most `backlogLimit` events are held, waiting or being written.
/// - While the store takes writes, the `record` that finds `capacity` events waiting and no write in flight takes them
///   (under the lock, so only one caller does) and writes them before it returns; while that write is in flight the
///   others go on buffering, and a caller that would pass `backlogLimit` (the store is slow) waits for it to end: a
///   flood slows down instead of growing, and no caller waits for more than the write in flight and its own.
/// - A batch the store refuses is kept for the next write (nothing is lost in a short outage). While the store keeps
///   refusing, the periodic flush retries every `interval`, and so does, at most once per `interval`, a `record` that
///   finds `capacity` events waiting or the backlog full (so writing resumes even without `run`).
/// - While the store refuses, a `record` that would pass `backlogLimit` is refused: it returns false and the events
///   are counted (`AuditObserver.auditBacklog`). The gateway then answers an unpaid request 503 `store_unavailable`
///   rather than issue terms it could not audit.
public final class AuditBatcher: Service, Sendable {
    private let store: any TollgateStore
    private let interval: Duration
    private let capacity: Int
    /// The most events held in memory, counting a batch being written.
    public let backlogLimit: Int
    private let observer: (any AuditObserver)?
    private let logger: Logger
    private let backlog: Mutex<Backlog>

    private struct Backlog {
        var waiting: [AuditEvent]
        /// Events taken by the write in flight (put back if the store refuses them).
        var writing = 0
        /// Whether a write is in flight; callers that need it ended wait in `flushWaiters`.
        var flushing = false
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        /// Whether the last write failed.
        var failing = false
        /// When the last write began: while failing, `record` retries at most once per `interval`.
        var lastAttempt: ContinuousClock.Instant?
        /// Events refused since the last report to the observer.
        var refused = 0
    }

    private enum Admission {
        case buffered, refused, waitForWrite
        /// This caller writes `batch` (taken under the lock, so one caller at a time does); `appended` says whether its
        /// own events were in it.
        case write([AuditEvent], appended: Bool)
    }

    /// - Parameters:
    ///   - interval: how long an event may wait before it is written.
    ///   - capacity: how many waiting events make `record` write them before it returns.
    ///   - backlogLimit: how many events may be held at once (default four times `capacity`).
    ///   - observer: told after each write how many events are held and how many were refused since.
    public init(store: any TollgateStore, interval: Duration = .milliseconds(200), capacity: Int = 8192, backlogLimit: Int? = nil,
                observer: (any AuditObserver)? = nil, logger: Logger) {
        self.store = store
        self.interval = interval
        self.capacity = max(1, capacity)
        self.backlogLimit = max(self.capacity, backlogLimit ?? 4 * self.capacity)
        self.observer = observer
        self.logger = logger
        var empty: [AuditEvent] = []
        empty.reserveCapacity(256)
        backlog = Mutex(Backlog(waiting: empty))
    }

    /// Events held in memory: waiting, or in the write in flight.
    public var held: Int { backlog.withLock { $0.waiting.count + $0.writing } }

    /// Buffers `events`; false when they were refused (the store refused the last write and `backlogLimit` events are
    /// held). All of `events` are buffered, or none.
    @discardableResult
    public func record(_ events: AuditEvent...) async -> Bool {
        await record(contentsOf: events)
    }

    /// The longest detail value an event keeps here, in UTF-8 bytes: a longer one (a request line of 80 KiB, the most a
    /// header block may hold) keeps its start and says how long it was. The backlog is bounded by a count of events, so
    /// this bounds it in bytes as well: a flood of long request lines while the store is slow cannot pin gigabytes.
    public static let maxDetailBytes = 2048

    /// Buffers `events`, all or none; false when they were refused.
    @discardableResult
    public func record(contentsOf events: [AuditEvent]) async -> Bool {
        guard !events.isEmpty else { return true }
        var events = events
        if events.contains(where: { $0.details.values.contains { $0.utf8.count > Self.maxDetailBytes } }) {
            events = events.map(Self.clipped)
        }
        while true {
            let now = ContinuousClock.now
            let admission = backlog.withLock { backlog -> Admission in
                let held = backlog.waiting.count + backlog.writing
                // While the store fails, it is asked again at most once per interval.
                let retryDue = backlog.failing && !backlog.flushing && (backlog.lastAttempt.map { now - $0 >= interval } ?? true)
                // Nothing held: taken whatever its size, so no call can wait for room that never comes.
                if held > 0, held + events.count > backlogLimit {
                    if backlog.failing && !retryDue {
                        backlog.refused += events.count
                        return .refused
                    }
                    // The store is slow (wait for the write in flight, or write when none is), or failed an interval ago
                    // (ask it again); then try again.
                    return backlog.flushing ? .waitForWrite : .write(Self.take(&backlog, at: now), appended: false)
                }
                backlog.waiting.append(contentsOf: events)
                // One caller writes and waits for its write; while that is in flight the others go on until the limit.
                guard backlog.waiting.count >= capacity, !backlog.flushing, !backlog.failing || retryDue else { return .buffered }
                return .write(Self.take(&backlog, at: now), appended: true)
            }
            switch admission {
            case .buffered: return true
            case .refused: return false
            case .waitForWrite: await writeEnded()
            case .write(let batch, let appended):
                await write(batch)
                if appended { return true }
            }
        }
    }

    /// Writes everything buffered now; while another write is in flight, waits for it to end first.
    public func flush() async {
        while true {
            let now = ContinuousClock.now
            if let batch = backlog.withLock({ $0.flushing ? nil : Self.take(&$0, at: now) }) {
                await write(batch)
                return
            }
            await writeEnded()
        }
    }

    /// `event` with each detail value longer than `maxDetailBytes` cut at a character boundary, followed by its length.
    static func clipped(_ event: AuditEvent) -> AuditEvent {
        var event = event
        for (key, value) in event.details where value.utf8.count > maxDetailBytes {
            let bytes = value.utf8
            var end = bytes.index(bytes.startIndex, offsetBy: maxDetailBytes)
            while end > bytes.startIndex, UTF8.isContinuation(bytes[end]) { end = bytes.index(before: end) }
            event.details[key] = String(decoding: bytes[..<end], as: UTF8.self) + "…[\(bytes.count) bytes]"
        }
        return event
    }

    /// Takes what waits and marks a write in flight (under the lock).
    private static func take(_ backlog: inout Backlog, at now: ContinuousClock.Instant) -> [AuditEvent] {
        backlog.flushing = true
        backlog.lastAttempt = now
        var taken: [AuditEvent] = []
        taken.reserveCapacity(256)
        swap(&taken, &backlog.waiting)
        backlog.writing = taken.count
        return taken
    }

    /// Returns once no write is in flight.
    private func writeEnded() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let inFlight = backlog.withLock { backlog -> Bool in
                guard backlog.flushing else { return false }
                backlog.flushWaiters.append(continuation)
                return true
            }
            if !inFlight { continuation.resume() }
        }
    }

    /// Writes `batch` (taken by `take`), ends the write in flight and wakes who waited for it.
    private func write(_ batch: [AuditEvent]) async {
        var failed = false
        if !batch.isEmpty {
            do {
                try await store.append(batch)
            } catch {
                failed = true
                logger.error("audit batch not written", metadata: ["tollgate.events": "\(batch.count)", "tollgate.error": "\(error)"])
            }
        }
        let (waiters, held, refused) = backlog.withLock { backlog in
            if failed {
                // Put back first, so nothing is lost while the store is down and the order stays the order of arrival.
                backlog.waiting.insert(contentsOf: batch, at: 0)
                backlog.failing = true
            } else if !batch.isEmpty {
                backlog.failing = false
            }
            backlog.writing = 0
            backlog.flushing = false
            let waiters = backlog.flushWaiters
            backlog.flushWaiters = []
            defer { backlog.refused = 0 }
            return (waiters, backlog.waiting.count, backlog.refused)
        }
        for waiter in waiters { waiter.resume() }
        if refused > 0 {
            logger.error("audit events refused: the store refuses writes and the backlog is full",
                         metadata: ["tollgate.events": "\(refused)", "tollgate.backlog": "\(held)"])
        }
        observer?.auditBacklog(waiting: held, refused: refused)
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
