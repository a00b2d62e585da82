import Foundation
import GRDB
import Testing
import TollgateCore
import TollgateSQLite

/// A flow whose events audit retention moved to the archive: support still sees where it stopped, and can dispute it.
@Suite struct TraceArchiveTests {
    /// The fixture's paid flow (eight events), archived three days later: one event of another flow stays live (the
    /// newest event always does). The configuration names the archive directory, as a gateway with retention does.
    static func archivedFixture(alsoArchived: [AuditEvent] = []) async throws -> (GatewayFixture, archive: String) {
        let fixture = try await GatewayFixture()
        if !alsoArchived.isEmpty { try await fixture.store.append(alsoArchived) }
        let archive = fixture.directory.appendingPathComponent("audit-archive").path
        let text = try String(contentsOfFile: fixture.config, encoding: .utf8) + "\naudit:\n  retention_days: 1\n  archive_dir: \(archive)\n"
        try text.write(toFile: fixture.config, atomically: true, encoding: .utf8)
        let now = SystemClock().nowMillis()
        try await fixture.store.append([AuditEvent(correlationId: CorrelationId.make(), timeMillis: now, stage: .offer, outcome: .issued,
                                                   reason: Reason.paymentRequired.rawValue, clientId: nil, resource: "datasets")])
        let archived = try await fixture.store.archiveAuditLog(AuditRetention(retentionDays: 1, archiveDirectory: archive),
                                                               nowMillis: now + 3 * 86_400_000)
        #expect(archived.map(\.eventCount) == [8 + alsoArchived.count])
        #expect(try await fixture.store.events(correlationId: fixture.paid).isEmpty)
        return (fixture, archive)
    }

    @Test func traceReadsAFlowWhoseEventsWereArchived() async throws {
        let (fixture, _) = try await Self.archivedFixture()
        defer { fixture.remove() }
        let table = await fixture.tollgate("trace", fixture.paid)
        #expect(table.status == 0, "\(table.error)")
        let rows = table.output.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(rows.map { $0.split(separator: " ", omittingEmptySubsequences: true)[2] } == StoreCommandTests.stages.map { Substring($0) },
                "\(table.output)")
        #expect(table.output.contains("(8 of these 8 events read from the audit archive"), "\(table.output)")
        #expect(table.output.contains("stopped at: delivered and settled (200)"), "\(table.output)")

        let json = try await fixture.tollgate("trace", fixture.paid, "--json").json()
        #expect(json["archivedEvents"] as? Int == 8)
        #expect((json["events"] as? [[String: Any]])?.compactMap { $0["stage"] as? String } == StoreCommandTests.stages)

        // By payer: the ledger still names the flow, its events come from the archive.
        let byPayer = await fixture.tollgate("trace", GatewayFixture.payer)
        #expect(byPayer.status == 0, "\(byPayer.error)")
        #expect(byPayer.output.contains("stopped at: delivered and settled (200)"), "\(byPayer.output)")

        // The store alone has nothing of it.
        let live = await fixture.tollgate("trace", fixture.paid, "--no-archives")
        #expect(live.status == 1)
        #expect(live.output == "no events recorded for \(fixture.paid)\n")
        // An id in neither.
        let unknown = "tg_" + String(repeating: "0", count: 32)
        let missing = await fixture.tollgate("trace", unknown)
        #expect(missing.status == 1)
        #expect(missing.output == "no events recorded for \(unknown)\n")
    }

    @Test func anArchivedFlowIsDisputedAndTracedWithItsDispute() async throws {
        let (fixture, archive) = try await Self.archivedFixture()
        defer { fixture.remove() }
        let opened = await fixture.tollgate("dispute", "open", fixture.paid, "--reason", "charged, nothing received")
        #expect(opened.status == 0, "\(opened.error)")
        #expect(opened.output.hasPrefix("opened dispute dp_"), "\(opened.output)")
        // The dispute's event names the flow's resource, read from the archive.
        let disputed = try await fixture.store.events(correlationId: fixture.paid)
        #expect(disputed.map(\.event.stage) == [.dispute])
        #expect(disputed.first?.event.resource == "datasets")

        // Archived steps and the live dispute, in seq order; where the payment stopped is before the dispute.
        let json = try await fixture.tollgate("trace", fixture.paid, "--json").json()
        #expect((json["events"] as? [[String: Any]])?.compactMap { $0["stage"] as? String } == StoreCommandTests.stages + ["dispute"])
        #expect((json["stoppedAt"] as? [String: Any])?["stage"] as? String == "respond")

        // An archive file gone: said, and what the store has is shown.
        for file in try FileManager.default.contentsOfDirectory(atPath: archive) {
            try FileManager.default.removeItem(atPath: archive + "/" + file)
        }
        let partial = await fixture.tollgate("trace", fixture.paid)
        #expect(partial.status == 0)
        #expect(partial.error.contains("note: audit archive: "), "\(partial.error)")
        // With neither the store nor the archive holding the flow, a dispute is refused.
        let other = try await Self.archivedFixture()
        defer { other.0.remove() }
        try FileManager.default.removeItem(atPath: other.archive)
        let refused = await other.0.tollgate("dispute", "open", other.0.paid, "--reason", "x")
        #expect(refused.status == 1)
        #expect(refused.error.contains("no audit event carries the correlation id"), "\(refused.error)")
    }

    /// The bundle of a flow archived whole: every event, each checked against its neighbours in the archive file. An
    /// archived event deleted from the file afterwards shows: the chain is not intact, and the file's digest differs.
    @Test func anArchivedFlowHasItsEvidenceBundleAndAnEditedArchiveShows() async throws {
        let (fixture, archive) = try await Self.archivedFixture()
        defer { fixture.remove() }
        let bundlePath = fixture.directory.appendingPathComponent("bundle.json").path
        // The store alone has nothing of it.
        let live = await fixture.tollgate("dispute", "evidence", fixture.paid, "--no-archives", "--output", bundlePath)
        #expect(live.status == 1)
        let exported = await fixture.tollgate("dispute", "evidence", fixture.paid, "--output", bundlePath)
        #expect(exported.status == 0, "\(exported.error)")
        var bundle = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundlePath))) as? [String: Any])
        #expect((bundle["auditChain"] as? [[String: Any]])?.compactMap { $0["stage"] as? String } == StoreCommandTests.stages)
        #expect(bundle["auditChainIntact"] as? Bool == true, "\(bundle["notes"] ?? "")")
        #expect(exported.error.isEmpty, "\(exported.error)")
        // The export is audited in the flow, naming its resource from the archive.
        #expect(try await fixture.store.events(correlationId: fixture.paid).map { [$0.event.stage.rawValue, $0.event.resource ?? "none"] }
                == [["dispute", "datasets"]])

        // The flow's fourth event (reserve) taken out of the file.
        let file = archive + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: archive).first { $0.hasSuffix(".jsonl") }))
        var lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        let removed = try #require(lines.firstIndex { $0.contains(#""stage":"reserve""#) })
        lines.remove(at: removed)
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let edited = await fixture.tollgate("dispute", "evidence", fixture.paid, "--output", bundlePath)
        #expect(edited.status == 0, "\(edited.error)")
        #expect(edited.error.contains("its SHA-256 is not the one recorded"), "\(edited.error)")
        bundle = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundlePath))) as? [String: Any])
        #expect(bundle["auditChainIntact"] as? Bool == false)
        #expect((bundle["notes"] as? [String])?.contains { $0.contains("do not link to the event before them") } == true, "\(bundle["notes"] ?? "")")
    }

    /// A payment refused before anything was reserved leaves only audit events naming its payer and nonce; archived,
    /// the store's lookup no longer finds them, the archive does (any letter case).
    @Test func aPayerOrNonceNamedOnlyInArchivedEventsIsFound() async throws {
        let refused = CorrelationId.make(), payer = "0xDeF0000000000000000000000000000000000002", nonce = "0x" + String(repeating: "b7", count: 32)
        let millis = SystemClock().nowMillis()
        let (fixture, _) = try await Self.archivedFixture(alsoArchived: [
            AuditEvent(correlationId: refused, timeMillis: millis, stage: .proof, outcome: .received, reason: nil, clientId: nil, resource: "datasets",
                       details: ["payer": payer, "nonce": nonce.uppercased().replacingOccurrences(of: "0X", with: "0x")]),
            AuditEvent(correlationId: refused, timeMillis: millis + 1, stage: .verify, outcome: .denied, reason: "invalid_signature", clientId: nil,
                       resource: "datasets"),
        ])
        defer { fixture.remove() }
        for key in [payer, nonce] {
            let found = await fixture.tollgate("trace", key)
            #expect(found.status == 0, "\(found.error)")
            #expect(found.output.contains("audit_archive"), "\(found.output)")
            #expect(found.output.contains("flow \(refused)"), "\(found.output)")
            #expect(found.output.contains("denied at verify: invalid_signature"), "\(found.output)")
        }
        let live = await fixture.tollgate("trace", payer, "--no-archives")
        #expect(live.status == 1)
    }

    /// The attack on a payer search: the lines naming a payer taken out of the archive file, so support would find no
    /// flow of that payer. The search reads the file through and says the file is not the one archived.
    @Test func aPayerTakenOutOfAnArchiveFileIsNotHiddenSilently() async throws {
        let refused = CorrelationId.make(), payer = "0xDeF0000000000000000000000000000000000003"
        let (fixture, archive) = try await Self.archivedFixture(alsoArchived: [
            AuditEvent(correlationId: refused, timeMillis: SystemClock().nowMillis(), stage: .proof, outcome: .received, reason: nil,
                       clientId: nil, resource: "datasets", details: ["payer": payer]),
        ])
        defer { fixture.remove() }
        let found = await fixture.tollgate("trace", payer)
        #expect(found.status == 0, "\(found.error)")
        #expect(!found.error.contains("SHA-256"), "\(found.error)")

        let file = archive + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: archive).first { $0.hasSuffix(".jsonl") }))
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.filter { !$0.lowercased().contains(payer.lowercased()) }
        #expect(kept.count == lines.count - 1)
        try (kept.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let hidden = await fixture.tollgate("trace", payer)
        #expect(!hidden.output.contains("flow \(refused)"), "\(hidden.output)")
        #expect(hidden.error.contains("its SHA-256 is not the one recorded"), "\(hidden.error)")
    }

    /// An archive file changed where the flow's own events and their neighbours are untouched (another flow's event
    /// edited): every link the bundle checks holds, so only the file's digest shows it; the bundle says so and is not
    /// intact.
    @Test func anArchiveChangedElsewhereMakesTheBundleNotIntact() async throws {
        let other = CorrelationId.make(), millis = SystemClock().nowMillis()
        let (fixture, archive) = try await Self.archivedFixture(alsoArchived: [
            AuditEvent(correlationId: other, timeMillis: millis, stage: .offer, outcome: .issued, reason: Reason.paymentRequired.rawValue,
                       clientId: nil, resource: "datasets"),
            AuditEvent(correlationId: other, timeMillis: millis + 1, stage: .verify, outcome: .denied, reason: "invalid_signature",
                       clientId: nil, resource: "datasets"),
        ])
        defer { fixture.remove() }
        let file = archive + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: archive).first { $0.hasSuffix(".jsonl") }))
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("invalid_signature"))
        try text.replacingOccurrences(of: "invalid_signature", with: "invalid_signaturX").write(toFile: file, atomically: true, encoding: .utf8)

        let bundlePath = fixture.directory.appendingPathComponent("bundle.json").path
        let exported = await fixture.tollgate("dispute", "evidence", fixture.paid, "--output", bundlePath)
        #expect(exported.status == 0, "\(exported.error)")
        let bundle = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundlePath))) as? [String: Any])
        let chain = try #require(bundle["auditChain"] as? [[String: Any]])
        #expect(chain.allSatisfy { $0["linked"] as? Bool == true && $0["recomputed"] as? Bool == true }, "\(chain)")
        #expect(bundle["auditChainIntact"] as? Bool == false)
        #expect((bundle["notes"] as? [String])?.contains { $0.hasPrefix("audit archive: ") && $0.contains("SHA-256") } == true, "\(bundle["notes"] ?? "")")
    }

    /// Support reads only the archive files whose index names what it looks for: with another flow's file gone, a trace
    /// of the first flow says nothing of it. Ranges archived before the index (simulated by clearing it) are read for
    /// every lookup until `tollgate audit index-archives` indexes them from their files; a missing file stays unindexed.
    @Test func onlyTheArchiveFilesNamingAFlowAreRead() async throws {
        let (fixture, archive) = try await Self.archivedFixture()
        defer { fixture.remove() }
        let other = CorrelationId.make(), payer = "0xFeD0000000000000000000000000000000000003", now = SystemClock().nowMillis()
        try await fixture.store.append([
            AuditEvent(correlationId: other, timeMillis: now, stage: .proof, outcome: .received, reason: nil, clientId: nil, resource: "datasets",
                       details: ["payer": payer]),
            AuditEvent(correlationId: other, timeMillis: now + 1, stage: .verify, outcome: .denied, reason: "invalid_signature", clientId: nil,
                       resource: "datasets"),
        ])
        try await fixture.store.append([AuditEvent(correlationId: CorrelationId.make(), timeMillis: now + 2, stage: .offer, outcome: .issued,
                                                   reason: Reason.paymentRequired.rawValue, clientId: nil, resource: "datasets")])
        let second = try await fixture.store.archiveAuditLog(AuditRetention(retentionDays: 1, archiveDirectory: archive), nowMillis: now + 3 * 86_400_000)
        let file = archive + "/" + (try #require(second.first?.file))
        try FileManager.default.moveItem(atPath: file, toPath: file + ".aside")

        func trace(_ key: String) async -> (status: Int32, output: String, error: String) {
            let result = await fixture.tollgate("trace", key)
            return (result.status, result.output, result.error)
        }
        var paid = await trace(fixture.paid)
        #expect(paid.status == 0 && paid.error.isEmpty, "\(paid.error)")
        #expect(paid.output.contains("stopped at: delivered and settled (200)"), "\(paid.output)")
        for key in [other, payer] {
            let missing = await trace(key)
            #expect(missing.error.contains("note: audit archive: ") && missing.error.contains(second[0].file), "\(missing.error)")
        }

        // As a database from before the index has them: every range unindexed, so every lookup reads every file.
        let database = try DatabaseQueue(path: fixture.database)
        try await database.write { db in try db.execute(sql: "UPDATE audit_archive SET indexed = 0; DELETE FROM audit_archive_key") }
        paid = await trace(fixture.paid)
        #expect(paid.status == 0 && paid.error.contains(second[0].file), "\(paid.error)")

        let partly = await fixture.tollgate("audit", "index-archives", "-c", fixture.config)
        #expect(partly.status == 1)
        #expect(partly.output.hasPrefix("indexed seq 1…8 ("), "\(partly.output)")
        #expect(partly.error.contains("not indexed seq \(second[0].firstSeq)…") && partly.error.contains("stays read for every lookup"), "\(partly.error)")
        paid = await trace(fixture.paid)
        #expect(paid.error.contains(second[0].file), "the unindexed range is still read: \(paid.error)")

        try FileManager.default.moveItem(atPath: file + ".aside", toPath: file)
        let rest = await fixture.tollgate("audit", "index-archives", "-c", fixture.config)
        #expect(rest.status == 0, "\(rest.error)")
        #expect(rest.output.hasPrefix("indexed seq \(second[0].firstSeq)…\(second[0].lastSeq) ("), "\(rest.output)")
        #expect(await fixture.tollgate("audit", "index-archives", "-c", fixture.config).output == "every archived range is indexed\n")
        try FileManager.default.removeItem(atPath: file)
        paid = await trace(fixture.paid)
        #expect(paid.status == 0 && paid.error.isEmpty, "\(paid.error)")
        let byPayer = await trace(payer)
        #expect(byPayer.error.contains(second[0].file), "\(byPayer.error)")
    }

    /// No evidence bundle leaves without its export in the audit log: when the store cannot record the export, nothing is
    /// written (neither the file nor its staged copy) and the command fails; recorded, the file appears whole.
    @Test func anEvidenceExportTheStoreCannotRecordWritesNothing() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let bundlePath = fixture.directory.appendingPathComponent("bundle.json").path
        let database = try DatabaseQueue(path: fixture.database)
        try await database.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_events BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        }
        let refused = await fixture.tollgate("dispute", "evidence", fixture.paid, "--output", bundlePath)
        #expect(refused.status != 0)
        #expect(!FileManager.default.fileExists(atPath: bundlePath) && !FileManager.default.fileExists(atPath: bundlePath + ".partial"))
        let stdout = await fixture.tollgate("dispute", "evidence", fixture.paid)
        #expect(stdout.status != 0 && stdout.output.isEmpty, "\(stdout.output)")

        try await database.write { db in try db.execute(sql: "DROP TRIGGER refuse_events") }
        let exported = await fixture.tollgate("dispute", "evidence", fixture.paid, "--output", bundlePath)
        #expect(exported.status == 0, "\(exported.error)")
        #expect(FileManager.default.fileExists(atPath: bundlePath) && !FileManager.default.fileExists(atPath: bundlePath + ".partial"))
        #expect(try await fixture.store.events(correlationId: fixture.paid).contains { $0.event.reason == "evidence_exported" })
    }
}
