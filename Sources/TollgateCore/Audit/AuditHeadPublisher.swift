import Foundation
import Logging
import ServiceLifecycle

/// The newest event of the audit chain: what a later check must still reach, unchanged.
public struct AuditHead: Sendable, Hashable, Codable, CustomStringConvertible {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    /// `SEQ:HASH`, as `tollgate audit verify --expect-head` takes it.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), let seq = Int64(text[..<colon]), seq >= 0 else { return nil }
        let hash = String(text[text.index(after: colon)...])
        guard !hash.isEmpty else { return nil }
        self.seq = seq
        self.hash = hash
    }

    public var description: String { "\(seq):\(hash)" }
}

/// A store that can tell its audit head.
public protocol AuditHeadReading: Sendable {
    func auditHead() async throws -> AuditHead?
}

/// Publishes the audit head outside the database on a schedule: a log line, a metric and, when configured,
/// a line appended (and synced) to a file. Someone able to rewrite or truncate the database cannot reach what was
/// published already, so `tollgate audit verify --expect-head SEQ:HASH` tells a truncated or rewritten tail.
public struct AuditHeadPublisher: Service {
    let store: any AuditHeadReading
    let file: String?
    let interval: Duration
    let onPublish: @Sendable (AuditHead) -> Void
    let logger: Logger

    public init(store: any AuditHeadReading, file: String?, interval: Duration = .seconds(60),
                onPublish: @escaping @Sendable (AuditHead) -> Void = { _ in }, logger: Logger) {
        self.store = store
        self.file = file
        self.interval = interval
        self.onPublish = onPublish
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await loop() }
    }

    private func loop() async throws {
        var last: AuditHead?
        while !Task.isCancelled {
            do {
                if let head = try await store.auditHead(), head != last {
                    try await BlockingIO.run { [self] in try publish(head) }
                    last = head
                }
            } catch {
                logger.warning("audit head not published", metadata: ["tollgate.error": "\(error)"])
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// Logs, reports and (with a file) appends one head.
    public func publish(_ head: AuditHead) throws {
        logger.notice("audit head", metadata: ["tollgate.audit.seq": "\(head.seq)", "tollgate.audit.hash": "\(head.hash)"])
        onPublish(head)
        guard let file else { return }
        let line = "{\"time\":\"\(RFC3339.format(millis: Int64(Date().timeIntervalSince1970 * 1000)))\",\"seq\":\(head.seq),\"hash\":\"\(head.hash)\"}\n"
        let descriptor = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o640)
        guard descriptor >= 0 else { throw TollgateError(.fileSystem, "cannot open \(file) to append the audit head") }
        defer { close(descriptor) }
        let bytes = Array(line.utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count, fsync(descriptor) == 0 else {
            throw TollgateError(.fileSystem, "cannot append the audit head to \(file)")
        }
    }
}
