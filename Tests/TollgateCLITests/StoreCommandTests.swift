import Foundation
import GRDB
import Testing
import TollgateSQLite

/// `tollgate trace`, `audit` and `refund` against a database the fixture filled through the store.
@Suite struct StoreCommandTests {
    static let stages = ["offer", "proof", "verify", "reserve", "facilitator_verify", "forward", "settle", "respond"]

    @Test func traceFindsAFlowByCorrelationIdAndPrintsItsStages() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let table = await fixture.tollgate("trace", fixture.paid)
        #expect(table.status == 0, "\(table.error)")
        #expect(table.output.hasPrefix("flow \(fixture.paid)\n"), "\(table.output)")
        let rows = table.output.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(rows.map { $0.split(separator: " ", omittingEmptySubsequences: true)[2] } == Self.stages.map { Substring($0) }, "\(table.output)")
        #expect(table.output.contains("stopped at: delivered and settled (200)"))

        let json = await fixture.tollgate("trace", fixture.paid, "--json")
        #expect(json.status == 0)
        let report = try json.json()
        #expect(report["correlationId"] as? String == fixture.paid)
        #expect((report["events"] as? [[String: Any]])?.compactMap { $0["stage"] as? String } == Self.stages)
        #expect((report["stoppedAt"] as? [String: Any])?["stage"] as? String == "respond")
    }

    @Test func traceFindsTheFlowOfAPayerAndReportsAnUnknownFlow() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let byPayer = await fixture.tollgate("trace", GatewayFixture.payer)
        #expect(byPayer.status == 0, "\(byPayer.error)")
        #expect(byPayer.output.hasPrefix("payer \(GatewayFixture.payer.lowercased()): 1 flow "), "\(byPayer.output)")
        #expect(byPayer.output.contains("flow \(fixture.paid)"))

        let unknown = "tg_" + String(repeating: "0", count: 32)
        let missing = await fixture.tollgate("trace", unknown)
        #expect(missing.status == 1)
        #expect(missing.output == "no events recorded for \(unknown)\n")

        let malformed = await fixture.tollgate("trace", "tg_123")
        #expect(malformed.status == 64, "a usage error: \(malformed.error)")
    }

    @Test func auditVerifyPassesOnTheChainAndFailsOnceAnEventIsEdited() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let intact = await fixture.tollgate("audit", "verify")
        #expect(intact.status == 0, "\(intact.output)\(intact.error)")
        #expect(intact.output.hasPrefix("audit log intact: 8 events, seq 1…8, head "), "\(intact.output)")

        // Someone with write access to the file rewrites what the upstream answered.
        let database = try DatabaseQueue(path: fixture.database)
        try await database.write { db in
            try db.execute(sql: #"UPDATE audit_event SET details = '{"status":"500"}' WHERE seq = 6"#)
        }
        let tampered = await fixture.tollgate("audit", "verify")
        #expect(tampered.status == 1)
        #expect(tampered.output.hasPrefix("seq 6 (\(fixture.paid)): edited — "), "\(tampered.output)")
        #expect(tampered.output.contains("audit log NOT intact: 1 finding(s) in 8 events"), "\(tampered.output)")

        let json = await fixture.tollgate("audit", "verify", "--json")
        #expect(json.status == 1)
        let report = try json.json()
        #expect(report["intact"] as? Bool == false)
    }

    /// Someone with write access to the database and without the audit key rewrites the whole log from its start: every
    /// link holds and every unkeyed hash recomputes. Only the configuration says no event may be unkeyed
    /// (`audit.unkeyed_through_seq`, default 0); a chain a gateway wrote before chains were keyed is allowed by naming
    /// its last unkeyed event.
    @Test func auditVerifyRefusesAChainRewrittenWithoutTheKey() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let events = try await fixture.store.events(correlationId: fixture.paid).map(\.event)
        let database = try DatabaseQueue(path: fixture.database)
        try await database.write { db in
            try db.execute(sql: "DELETE FROM audit_event")
            try db.execute(sql: "DELETE FROM sqlite_sequence WHERE name = 'audit_event'")
        }
        try await SQLiteStore(path: fixture.database, auditKeys: nil).append(events)

        let rewritten = await fixture.tollgate("audit", "verify")
        #expect(rewritten.status == 1, "\(rewritten.output)")
        #expect(rewritten.output.contains("events up to seq 8 have unkeyed hashes"), "\(rewritten.output)")
        #expect(rewritten.output.contains("set audit.unkeyed_through_seq: 8"), "\(rewritten.output)")

        let text = try String(contentsOfFile: fixture.config, encoding: .utf8) + "\naudit:\n  unkeyed_through_seq: 8\n"
        try text.write(toFile: fixture.config, atomically: true, encoding: .utf8)
        let legacy = await fixture.tollgate("audit", "verify")
        #expect(legacy.status == 0, "\(legacy.output)")
    }

    @Test func auditExportWritesEveryEventAsJSONLines() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let file = fixture.directory.appendingPathComponent("audit.jsonl").path
        let run = await fixture.tollgate("audit", "export", "--since", "1d", "-o", file)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.error.contains("8 events exported"), "\(run.error)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        let events = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(events.compactMap { $0["seq"] as? Int } == Array(1...8))
        #expect(events.allSatisfy { $0["correlationId"] as? String == fixture.paid })
        #expect(events.compactMap { $0["stage"] as? String } == Self.stages)

        let later = await fixture.tollgate("audit", "export", "--since", "1d", "--until", "2d")
        #expect(later.status == 64, "--until before --since is a usage error")
    }

    /// A payment in an asset the configuration no longer has: a decimal `--amount` cannot be read in its units (as atomic
    /// units it refunded a millionth of what was meant), so it is refused; without `--amount`, all that is left is refunded.
    @Test func aRefundAmountInAnAssetNoLongerConfiguredIsRefused() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let text = try String(contentsOfFile: fixture.config, encoding: .utf8)
        try text.replacingOccurrences(of: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", with: "0x0000000000000000000000000000000000000aaa")
            .write(toFile: fixture.config, atomically: true, encoding: .utf8)
        let refused = await fixture.tollgate("refund", "create", fixture.paid, "--amount", "5", "--reason", "stale data")
        #expect(refused.status != 0)
        #expect(refused.error.contains("is not in the configuration"), "\(refused.error)")
        #expect(try await fixture.store.refunds(state: nil, correlationId: fixture.paid, limit: 10).isEmpty)
        let whole = await fixture.tollgate("refund", "create", fixture.paid, "--reason", "stale data")
        #expect(whole.status == 0, "\(whole.error)")
        #expect(try await fixture.store.refunds(state: nil, correlationId: fixture.paid, limit: 10).map(\.amount) == ["10000"])
    }

    @Test func refundRecordsAPartialRefundAndRefusesAnOverRefund() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let first = await fixture.tollgate("refund", fixture.paid, "--amount", "0.004", "--reason", "stale data")
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.hasPrefix("rf_"), "\(first.output)")
        #expect(first.output.contains("  pending_payout  0.004 usdc-base-sepolia  flow \(fixture.paid)"), "\(first.output)")
        #expect(first.output.hasSuffix(": stale data\n"), "\(first.output)")

        // 0.006 is left of the 0.01 paid.
        let over = await fixture.tollgate("refund", "create", fixture.paid, "--amount", "0.007", "--reason", "again")
        #expect(over.status == 1)
        #expect(over.output.isEmpty)
        #expect(over.error == "refund refused: exceeds_paid: 7000 exceeds what is left to refund: 6000 of 10000 paid (atomic units)\n")

        let listed = await fixture.tollgate("refund", "list", "--format", "json")
        #expect(listed.status == 0)
        let refunds = try listed.json([[String: Any]].self)
        #expect(refunds.count == 1)
        #expect(refunds.first?["amount"] as? String == "4000" && refunds.first?["correlationId"] as? String == fixture.paid)

        // The refund is part of the flow's audit trail, and the chain still verifies.
        let trace = await fixture.tollgate("trace", fixture.paid, "--json")
        let report = try trace.json()
        #expect((report["events"] as? [[String: Any]])?.last?["stage"] as? String == "refund")
        #expect(await fixture.tollgate("audit", "verify").status == 0)
    }

    /// `refund close`: a transaction already recorded for another refund is refused unless `--batch` says it pays both.
    @Test func refundCloseRefusesAReusedPayoutUnlessItIsABatch() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        var ids: [String] = []
        for amount in ["0.004", "0.003"] {
            let created = await fixture.tollgate("refund", fixture.paid, "--amount", amount, "--reason", "stale data")
            #expect(created.status == 0, "\(created.error)")
            ids.append(String(created.output.prefix { $0 != " " }))
        }
        let payout = "0x" + String(repeating: "5e", count: 32)
        let first = await fixture.tollgate("refund", "close", ids[0], "--tx", payout)
        #expect(first.status == 0, "\(first.error)")
        let reused = await fixture.tollgate("refund", "close", ids[1], "--tx", payout)
        #expect(reused.status == 1)
        #expect(reused.error.hasPrefix("close refused: payout_transaction_used: \(payout) already closes refund \(ids[0])"), "\(reused.error)")
        let batch = await fixture.tollgate("refund", "close", ids[1], "--tx", payout, "--batch")
        #expect(batch.status == 0, "\(batch.error)")
        #expect(batch.output.contains("  paid  0.003 "), "\(batch.output)")
    }
}
