import Foundation
import Testing
import TollgateCore
import TollgateSQLite

@Suite struct ControlStoreTests {
    static let payer = "0xAbC0000000000000000000000000000000000001"

    @Test func revocationsPersistAcrossReopeningAndLiftingKeepsTheAuditTrail() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await store.revoke(kind: .client, subject: "alice", reason: "leaked key", actor: "admin:bob")
        try await store.revoke(kind: .payer, subject: Self.payer, reason: "sanctioned", actor: "admin")
        // Revoking again replaces the reason, it does not fail.
        try await store.revoke(kind: .client, subject: "alice", reason: "leaked key, rotated", actor: "admin:bob")

        let reopened = try SQLiteStore(path: database.directory.appendingPathComponent("tollgate.sqlite").path)
        let snapshot = try await reopened.loadControls()
        #expect(snapshot.revokedClients == ["alice": "leaked key, rotated"])
        #expect(snapshot.revokedPayers == [Self.payer.lowercased(): "sanctioned"])
        #expect(OperatorControls(snapshot).isRevoked(payer: Self.payer))

        // Payer addresses are compared case-insensitively: lifting with another case works.
        #expect(try await store.unrevoke(kind: .payer, subject: Self.payer.uppercased().replacingOccurrences(of: "0X", with: "0x"), actor: "admin"))
        #expect(try await !store.unrevoke(kind: .payer, subject: Self.payer, actor: "admin"))
        #expect(try await store.unrevoke(kind: .client, subject: "alice", actor: "admin:carol"))
        #expect(try await store.loadControls() == ControlsSnapshot())

        let log = try await store.auditEvents(stage: .admin)
        #expect(log.map(\.event.reason) == ["revoke", "revoke", "revoke", "unrevoke", "unrevoke"])
        #expect(log.allSatisfy { $0.event.stage == .admin && $0.event.outcome == .ok && $0.event.correlationId.hasPrefix("admin_") })
        #expect(Set(log.map(\.event.correlationId)).count == log.count)
        #expect(log[0].event.clientId == "admin:bob")
        #expect(log[0].event.details == ["what": "revoke", "kind": "client", "subject": "alice", "reason": "leaked key"])
        #expect(log[1].event.details["subject"] == Self.payer.lowercased())
        #expect(log[4].event.clientId == "admin:carol")
        // The admin events are links of the one hash chain.
        for (previous, next) in zip(log, log.dropFirst()) where next.seq == previous.seq + 1 {
            #expect(next.previousHash == previous.hash)
        }
    }

    @Test func incidentsStartOncePerScopeAndEnd() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let global = try await store.startIncident(scope: nil, reason: "facilitator double-settling", actor: "admin")
        let route = try await store.startIncident(scope: "datasets", reason: "bad data", actor: "admin:alice")
        #expect(global.id.hasPrefix("inc_") && global.id.count == 20)
        #expect(global.id != route.id)
        // A second start for a scope that is on returns the incident in force unchanged.
        #expect(try await store.startIncident(scope: "datasets", reason: "other", actor: "admin") == route)

        var snapshot = try await store.loadControls()
        #expect(snapshot.globalIncident == global)
        #expect(snapshot.routeIncidents == ["datasets": route])

        #expect(try await store.endIncident(scope: "reports", actor: "admin") == nil)
        #expect(try await store.endIncident(scope: nil, actor: "admin") == global)
        #expect(try await store.endIncident(scope: nil, actor: "admin") == nil)
        snapshot = try await store.loadControls()
        #expect(snapshot.globalIncident == nil)
        #expect(snapshot.routeIncidents == ["datasets": route])
        #expect(try await store.endIncident(scope: "datasets", actor: "admin") == route)
        #expect(try await store.loadControls() == ControlsSnapshot())

        // A new incident after the end is a new one.
        let again = try await store.startIncident(scope: "datasets", reason: "again", actor: "admin")
        #expect(again.id != route.id)

        let log = try await store.auditEvents(stage: .admin)
        #expect(log.map(\.event.reason) == ["incident_on", "incident_on", "incident_off", "incident_off", "incident_on"])
        #expect(log[1].event.details == ["what": "incident_on", "scope": "datasets", "incident": route.id, "reason": "bad data"])
        #expect(log[1].event.resource == "datasets")
        #expect(log[2].event.details["scope"] == "global")
        #expect(log[2].event.details["incident"] == global.id)
    }

    @Test func spendSumsTheLedgerAsDecimalStrings() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        // Two uint256-max payments by alice (their sum needs 79 digits), one small one by another payer and client.
        for (nonce, payer, client, amount) in [("0x01", Self.payer, "alice", max), ("0x02", Self.payer.lowercased(), "alice", max),
                                               ("0x03", "0x00000000000000000000000000000000000000b0", "bob", "10000")] {
            let key = TemporaryDatabase.key(nonce: nonce, payer: payer)
            #expect(try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "flow-\(nonce)"), events: []) == .reserved)
            var payment = TemporaryDatabase.payment(key, correlationId: "flow-\(nonce)")
            payment.clientId = client
            payment.amount = amount
            try await store.finish(key, state: .settled, payment: payment, events: [])
        }
        let asset = TemporaryDatabase.key().asset.lowercased()
        let doubled = "231584178474632390847141970017375815706539969331281128078915168015826259279870"
        #expect(try await store.spend(client: "alice", payer: nil)
            == SpendSummary(count: 2, totals: [.init(network: "eip155:84532", asset: asset, amount: doubled)]))
        #expect(try await store.spend(client: nil, payer: Self.payer.uppercased().replacingOccurrences(of: "0X", with: "0x")).count == 2)
        #expect(try await store.spend(client: "bob", payer: nil).totals.map(\.amount) == ["10000"])
        #expect(try await store.spend(client: "alice", payer: "0x00000000000000000000000000000000000000b0") == SpendSummary(count: 0, totals: []))
        #expect(try await store.spend(client: "nobody", payer: nil) == SpendSummary(count: 0, totals: []))
    }

    @Test func decimalSum() {
        #expect(DecimalSum.add("999", "1") == "1000")
        #expect(DecimalSum.add("0", "0") == "0")
        #expect(DecimalSum.add("007", "3") == "10")
        #expect(DecimalSum.add("1.5", "1") == nil)
        #expect(DecimalSum.add("", "1") == nil)
    }
}
