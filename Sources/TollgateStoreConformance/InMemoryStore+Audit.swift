import TollgateCore

/// The hash-chained audit log and its archives.
extension InMemoryStore {
    public func append(_ events: [AuditEvent]) async throws {
        appendAttempts += 1
        if let delay = delays[.append] { try await Task.sleep(for: delay) }
        try check(.append)
        appendCalls += 1
        write(events)
    }

    public func events(correlationId: String) async throws -> [RecordedAuditEvent] {
        if failing.contains(.events) { throw Self.failure }
        return recorded.filter { $0.event.correlationId == correlationId }
            .sorted { ($0.event.timeMillis, $0.seq) < ($1.event.timeMillis, $1.seq) }
    }

    public func auditHead() async throws -> AuditHead? { recorded.last.map { AuditHead(seq: $0.seq, hash: $0.hash) } }

    public func holds(_ head: AuditHead) async throws -> Bool? {
        head.isHeld(liveHash: recorded.first { $0.seq == head.seq }?.hash, archives: archives)
    }

    public func auditArchives() async throws -> [AuditArchiveRecord] { archives }

    public func auditArchives(holding keys: Set<String>) async throws -> [AuditArchiveRecord] {
        archives.filter { !$0.indexed || !(archiveKeys[$0.firstSeq] ?? []).isDisjoint(with: keys) }
    }

    public func indexAuditArchive(firstSeq: Int64, keys: Set<String>) async throws {
        guard let index = archives.firstIndex(where: { $0.firstSeq == firstSeq }) else {
            throw TollgateError(.notFound, "no archived range starts at seq \(firstSeq)")
        }
        archives[index].indexed = true
        archiveKeys[firstSeq, default: []].formUnion(keys)
    }

    public func auditEvents(after seq: Int64, limit: Int) async throws -> [RecordedAuditEvent] {
        Array(recorded.filter { $0.seq > seq }.prefix(limit))
    }

    public func auditEvents(stage: AuditEvent.Stage, limit: Int) async throws -> [RecordedAuditEvent] {
        Array(recorded.filter { $0.event.stage == stage }.suffix(limit))
    }

    public func auditSequenceValue() async throws -> Int64? { sequence > 0 ? sequence : nil }

    public func verifyAuditLog(archives directory: String?) async throws -> AuditVerifier.Report {
        var verifier = AuditVerifier.continuing(archives: archives, directory: directory, keys: auditKeys)
        for record in recorded { verifier.consume(record) }
        return verifier.finish(sequenceValue: sequence > 0 ? sequence : nil)
    }

    @discardableResult
    public nonisolated func exportAudit(sinceMillis: Int64, untilMillis: Int64, pageSize: Int,
                                        _ body: ([RecordedAuditEvent]) throws -> Void) async throws -> Int {
        let matching = await recorded.filter { $0.event.timeMillis >= sinceMillis && $0.event.timeMillis < untilMillis }
        for start in stride(from: 0, to: matching.count, by: max(1, pageSize)) {
            try body(Array(matching[start..<min(matching.count, start + max(1, pageSize))]))
        }
        return matching.count
    }

    public func commitAuditArchive(_ record: AuditArchiveRecord, keys: Set<String>, after anchor: AuditVerifier.Anchor) async throws {
        let range = recorded.filter { (record.firstSeq...record.lastSeq).contains($0.seq) }
        guard (archives.last?.anchor ?? .genesis) == anchor, range.count == record.eventCount, range.last?.hash == record.lastHash else {
            throw TollgateError(.concurrentChange, "seq \(record.firstSeq)…\(record.lastSeq) changed while it was being archived; nothing was deleted")
        }
        var record = record
        record.indexed = true
        archives.append(record)
        archiveKeys[record.firstSeq] = keys
        recorded.removeAll { (record.firstSeq...record.lastSeq).contains($0.seq) }
    }
}
