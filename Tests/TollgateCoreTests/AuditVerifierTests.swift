import Testing
import TollgateCore

@Suite struct AuditVerifierTests {
    /// `count` events chained from `anchor`, seq numbers following it.
    static func chain(_ count: Int, from anchor: AuditVerifier.Anchor = .genesis) -> [RecordedAuditEvent] {
        var previous = anchor.hash
        return (1...count).map { index in
            let seq = anchor.seq + Int64(index)
            let event = AuditEvent(correlationId: "tg_\(seq)", timeMillis: 1_750_000_000_000 + seq, stage: .offer, outcome: .issued,
                                   reason: "payment_required", clientId: "alice", resource: "datasets", details: ["n": "\(seq)"])
            let hash = AuditChain.hash(previous: previous, event: event)
            defer { previous = hash }
            return RecordedAuditEvent(seq: seq, event: event, previousHash: previous, hash: hash)
        }
    }

    static func verify(_ rows: [RecordedAuditEvent], anchor: AuditVerifier.Anchor = .genesis, sequence: Int64? = nil,
                       window: Int = 50_000) -> AuditVerifier.Report {
        var verifier = AuditVerifier(anchor: anchor, window: window)
        for row in rows { verifier.consume(row) }
        return verifier.finish(sequenceValue: sequence ?? rows.last?.seq)
    }

    /// Exchanges everything but the seq of two rows (what `UPDATE … SET` of every column does).
    static func swapContents(_ rows: inout [RecordedAuditEvent], _ a: Int, _ b: Int) {
        let first = rows[a], second = rows[b]
        rows[a] = RecordedAuditEvent(seq: first.seq, event: second.event, previousHash: second.previousHash, hash: second.hash)
        rows[b] = RecordedAuditEvent(seq: second.seq, event: first.event, previousHash: first.previousHash, hash: first.hash)
    }

    static func summary(_ report: AuditVerifier.Report) -> [String] { report.findings.map { "\($0.kind) \($0.seq)" } }

    @Test func aCleanChainHasNoFindingAndReportsItsHead() {
        let rows = Self.chain(20)
        let report = Self.verify(rows)
        #expect(report.isIntact)
        #expect(report.events == 20)
        #expect(report.firstSeq == 1)
        #expect(report.head == .init(seq: 20, hash: rows[19].hash))
    }

    @Test func anEmptyLogIsIntactAtItsAnchor() {
        let report = Self.verify([], sequence: nil)
        #expect(report.isIntact)
        #expect(report.head == .genesis)
        #expect(report.firstSeq == nil)
    }

    @Test func anEditedRowIsTheOnlyFinding() throws {
        var rows = Self.chain(10)
        rows[3].event.details["n"] = "999"  // seq 4, hash left as it was
        let report = Self.verify(rows)
        #expect(Self.summary(report) == ["edited 4"])
        let finding = try #require(report.findings.first)
        #expect(finding.correlationId == "tg_4")
        #expect(finding.description.hasPrefix("seq 4 (tg_4): edited — stored hash \(rows[3].hash.prefix(12))… does not match its content"))
    }

    /// A keyed chain: the edit is found, and the finding does not show the audit key's MAC of the edited contents (it
    /// would let whoever edited the row forge its hash from the report).
    @Test func anEditedKeyedRowIsFoundWithoutShowingItsMAC() throws {
        let key = try #require(SecretKey(id: "a1", secret: Array(repeating: 3, count: 32)))
        var previous = AuditChain.genesis
        var rows = (1...5).map { seq -> RecordedAuditEvent in
            let event = AuditEvent(correlationId: "tg_\(seq)", timeMillis: 1_750_000_000_000, stage: .offer, outcome: .issued, details: ["n": "\(seq)"])
            let hash = AuditChain.keyedHash(previous: previous, seq: Int64(seq), event: event, key: key)
            defer { previous = hash }
            return RecordedAuditEvent(seq: Int64(seq), event: event, previousHash: previous, hash: hash)
        }
        rows[2].event.details["n"] = "999"
        var verifier = AuditVerifier(keys: KeyRing([key]))
        for row in rows { verifier.consume(row) }
        let report = verifier.finish(sequenceValue: 5)
        #expect(Self.summary(report) == ["edited 3"])
        let mac = try #require(AuditChain.expectedHash(of: rows[2], keys: KeyRing([key])))
        let explanation = try #require(report.findings.first?.explanation)
        #expect(explanation.contains("recomputed with the audit key"))
        #expect(!explanation.contains(String(mac.suffix(20).prefix(8))) && !explanation.contains(AuditVerifier.short(mac)))
    }

    @Test func anEditedPrevHashIsAnEdit() {
        var rows = Self.chain(6)
        rows[2].previousHash = rows[0].hash
        #expect(Self.summary(Self.verify(rows)) == ["edited 3"])
    }

    @Test func aDeletedMiddleRowIsReportedAtTheGap() throws {
        var rows = Self.chain(10)
        rows.remove(at: 4)  // seq 5
        let report = Self.verify(rows, sequence: 10)
        #expect(Self.summary(report) == ["deleted 6"])
        let finding = try #require(report.findings.first)
        #expect(finding.correlationId == "tg_6")
        #expect(finding.explanation.contains("seq 5 is missing before it"))
    }

    @Test func aDeletionHiddenByRenumberingIsStillADeletion() {
        var rows = Self.chain(10)
        rows.remove(at: 4)
        for index in 4..<rows.count { rows[index].seq -= 1 }
        let report = Self.verify(rows, sequence: 9)
        #expect(Self.summary(report) == ["deleted 5"])
        #expect(report.findings.first?.explanation.contains("belongs to none of the remaining events") == true)
    }

    @Test func aRowRewrittenWithARecomputedHashBreaksTheNextLink() {
        var rows = Self.chain(8)
        rows[2].event.details["n"] = "forged"
        rows[2].hash = AuditChain.hash(previous: rows[2].previousHash, event: rows[2].event)
        let report = Self.verify(rows)
        #expect(Self.summary(report) == ["deleted 4"])
        #expect(report.findings.first?.explanation.contains("seq 3 was replaced by an event with a recomputed hash") == true)
    }

    @Test func aDeletedTailIsFoundThroughTheSequence() throws {
        let rows = Array(Self.chain(10).prefix(8))
        #expect(Self.verify(rows, sequence: 8).isIntact)
        let report = Self.verify(rows, sequence: 10)
        #expect(Self.summary(report) == ["deleted 9"])
        let finding = try #require(report.findings.first)
        #expect(finding.correlationId == nil)
        #expect(finding.explanation.contains("seq 9…10 were deleted from the end"))
        #expect(report.head.seq == 8)
    }

    @Test func everyEventDeletedIsADeletedTail() {
        let report = Self.verify([], sequence: 3)
        #expect(Self.summary(report) == ["deleted 1"])
    }

    @Test func twoAdjacentSwappedRowsAreBothReorderedAndNothingElse() {
        var rows = Self.chain(10)
        Self.swapContents(&rows, 2, 3)  // seq 3 and 4
        let report = Self.verify(rows)
        #expect(Self.summary(report) == ["reordered 3", "reordered 4"])
        #expect(report.findings.map(\.correlationId) == ["tg_4", "tg_3"])
    }

    @Test func twoDistantSwappedRowsAreBothReorderedAndNothingElse() {
        var rows = Self.chain(12)
        Self.swapContents(&rows, 2, 7)  // seq 3 and 8
        let report = Self.verify(rows)
        #expect(Self.summary(report) == ["reordered 3", "reordered 8"])
        #expect(report.findings[0].explanation.contains("follows a later event, seq 7,"))
        #expect(report.findings[1].explanation.contains("follows seq 2 instead of seq 7"))
    }

    @Test func aRowMovedBackIsTheOneReported() {
        var rows = Self.chain(8)
        // Contents of seq 3, 4, 5 become 4, 5, 3: event 3 was moved after event 5.
        let moved = rows[2]
        for index in 2..<4 { rows[index] = RecordedAuditEvent(seq: rows[index].seq, event: rows[index + 1].event,
                                                               previousHash: rows[index + 1].previousHash, hash: rows[index + 1].hash) }
        rows[4] = RecordedAuditEvent(seq: 5, event: moved.event, previousHash: moved.previousHash, hash: moved.hash)
        #expect(Self.summary(Self.verify(rows)) == ["reordered 5"])
    }

    @Test func aSwapFurtherThanTheWindowIsStillDetected() {
        var rows = Self.chain(40)
        Self.swapContents(&rows, 3, 35)
        let report = Self.verify(rows, window: 4)
        #expect(!report.isIntact)
        #expect(report.findings.contains { $0.seq == 4 })
        #expect(report.findings.contains { $0.seq == 36 })
    }

    @Test func theChainContinuesFromAnArchiveAnchor() {
        let all = Self.chain(10)
        let anchor = AuditVerifier.Anchor(seq: 6, hash: all[5].hash)
        let live = Array(all[6...])
        let report = Self.verify(live, anchor: anchor)
        #expect(report.isIntact)
        #expect(report.anchor == anchor)
        #expect(report.firstSeq == 7)
        #expect(report.head == .init(seq: 10, hash: all[9].hash))
        // From genesis, the archived events are missing; from a wrong anchor, the first link is broken.
        #expect(Self.summary(Self.verify(live)) == ["deleted 7"])
        let wrong = Self.verify(live, anchor: .init(seq: 6, hash: all[4].hash))
        #expect(Self.summary(wrong) == ["deleted 7"])
        #expect(wrong.findings.first?.explanation.contains("the archive anchor (seq 6)") == true)
    }

    /// The live rows after a keyed archive anchor rewritten by someone without the key, with unkeyed hashes that link
    /// and recompute: a downgrade, found from the anchor on (the walk used to start unkeyed and pass them).
    @Test func unkeyedRowsAfterAKeyedArchiveAnchorAreADowngrade() {
        let anchor = AuditVerifier.Anchor(seq: 6, hash: AuditChain.keyedPrefix + "k1:" + String(repeating: "ab", count: 32))
        let forged = Self.chain(3, from: anchor)
        let report = Self.verify(forged, anchor: anchor)
        #expect(!report.isIntact)
        #expect(report.findings.contains { $0.kind == .edited && $0.explanation.contains("unkeyed hash after the chain became keyed") })
        // Skipping to a keyed anchor (an archive file's last event) has the same effect.
        var verifier = AuditVerifier(anchor: .genesis)
        verifier.skip(to: anchor)
        for row in forged { verifier.consume(row) }
        let skipped = verifier.finish(sequenceValue: forged.last?.seq)
        #expect(!skipped.isIntact)
    }

    @Test func aLongCleanChainStreamsThroughASmallWindow() {
        var verifier = AuditVerifier(anchor: .genesis, window: 16)
        var previous = AuditChain.genesis
        for seq in Int64(1)...20_000 {
            let event = AuditEvent(correlationId: "tg_\(seq % 97)", timeMillis: seq, stage: .respond, outcome: .ok)
            let hash = AuditChain.hash(previous: previous, event: event)
            verifier.consume(RecordedAuditEvent(seq: seq, event: event, previousHash: previous, hash: hash))
            previous = hash
        }
        let report = verifier.finish(sequenceValue: 20_000)
        #expect(report.isIntact)
        #expect(report.events == 20_000)
        #expect(report.head.hash == previous)
    }

    @Test func findingsBeyondTheLimitAreCountedNotKept() {
        var rows = Self.chain(30)
        for index in rows.indices { rows[index].event.details["n"] = "edited" }  // every row edited
        var verifier = AuditVerifier(anchor: .genesis, maxFindings: 5)
        for row in rows { verifier.consume(row) }
        let report = verifier.finish(sequenceValue: 32)
        #expect(Self.summary(report) == ["edited 1", "edited 2", "edited 3", "edited 4", "edited 5"])
        #expect(report.omittedFindings == 26)  // 25 edits and the deleted tail
        #expect(!report.isIntact)
    }
}
