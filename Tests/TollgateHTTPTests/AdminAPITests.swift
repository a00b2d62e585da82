import TollgateStoreConformance
import Synchronization
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TollgateAdmin
import TollgateCore
import TollgateSQLite

/// The admin router through `app.test(.router)`, on a real SQLite store.
@Suite struct AdminAPITests {
    static let token = "admin-token-for-tests-0123456789"
    static let payer = "0xAbC0000000000000000000000000000000000001"

    /// A fresh store and controls, the admin application over them, and a client for `body`.
    struct Fixture: Sendable {
        let store: SQLiteStore
        let controls: OperatorControls
        let directory: URL

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-admin-\(UUID().uuidString)")
            store = try SQLiteStore(path: directory.appendingPathComponent("tollgate.sqlite").path)
            controls = OperatorControls()
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }

        func run(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            let router = AdminAPI.router(store: store, controls: controls, token: Array(AdminAPITests.token.utf8), logger: Listener.quiet)
            try await Application(router: router, logger: Listener.quiet).test(.router) { client in try await body(client) }
        }
    }

    static func headers(token: String? = AdminAPITests.token, actor: String? = nil) -> HTTPFields {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        if let actor { fields[AdminAPI.actorField] = actor }
        return fields
    }

    static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    @Test func statusShowsTheStoreAndStillAnswersDuringAnOutage() async throws {
        let store = InMemoryStore()
        let controls = OperatorControls()
        try await store.revoke(kind: .client, subject: "analyst", reason: "leaked key", actor: "test")
        let health = Mutex(StoreHealth(backend: "postgres"))
        let router = AdminAPI.router(store: store, controls: controls, token: Array(Self.token.utf8), storeHealth: { health.withLock { $0 } },
                                     logger: Listener.quiet)
        try await Application(router: router, logger: Listener.quiet).test(.router) { client in
            let up = try await client.execute(uri: "/admin/status", method: .get, headers: Self.headers())
            #expect(up.status == .ok)
            #expect((try Self.object(up)["store"] as? [String: Any])?["reachable"] as? Bool == true)
            // The database went away: the answer is still 200, with the controls this instance enforces (never lifted by
            // an outage) and what the store last said.
            await store.fail(.controls)
            health.withLock { $0 = StoreHealth(backend: "postgres", reachable: false, sinceMillis: 1_800_000_000_000, lastError: "08006: gone", failures: 3) }
            let down = try await client.execute(uri: "/admin/status", method: .get, headers: Self.headers())
            #expect(down.status == .ok)
            let body = try Self.object(down)
            let shown = try #require(body["store"] as? [String: Any])
            #expect(shown["reachable"] as? Bool == false && shown["failures"] as? Int == 3 && shown["lastError"] as? String == "08006: gone")
            #expect((body["revocations"] as? [[String: String]])?.first?["subject"] == "analyst")
        }
        // Without a health source an outage is a 503, as before.
        let plain = AdminAPI.router(store: store, controls: controls, token: Array(Self.token.utf8), logger: Listener.quiet)
        try await Application(router: plain, logger: Listener.quiet).test(.router) { client in
            let unavailable = try await client.execute(uri: "/admin/status", method: .get, headers: Self.headers())
            #expect(unavailable.status == .serviceUnavailable)
        }
    }

    @Test func everyRouteNeedsTheToken() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await fixture.run { client in
            for (uri, method) in [("/admin/status", HTTPRequest.Method.get), ("/admin/revocations", .post), ("/admin/incidents", .delete),
                                  ("/admin/nowhere", .get)] {
                for fields in [Self.headers(token: nil), Self.headers(token: "wrong"), Self.headers(token: Self.token + "x"),
                               [.authorization: "Basic \(Self.token)"]] {
                    let response = try await client.execute(uri: uri, method: method, headers: fields,
                                                            body: Self.json(#"{"kind":"client","subject":"alice","reason":"x"}"#))
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                    #expect(try Self.object(response)["error"] as? String == "unauthorized")
                }
            }
            let ok = try await client.execute(uri: "/admin/status", method: .get, headers: Self.headers())
            #expect(ok.status == .ok)
        }
        // Nothing got through.
        #expect(try await fixture.store.loadControls() == ControlsSnapshot())
        #expect(fixture.controls.snapshot == ControlsSnapshot())
    }

    @Test func aRevocationAppliesAtOnceAndIsListed() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let controls = fixture.controls
        try await fixture.run { client in
            let created = try await client.execute(uri: "/admin/revocations", method: .post, headers: Self.headers(actor: "alice"),
                                                   body: Self.json(#"{"kind":"client","subject":"analyst","reason":"leaked key"}"#))
            #expect(created.status == .created)
            #expect(try Self.object(created)["subject"] as? String == "analyst")
            // Applied to this instance's controls before the answer, no refresher involved.
            #expect(controls.isRevoked(client: "analyst"))
            #expect(!controls.isRevoked(client: "other"))

            let payer = try await client.execute(uri: "/admin/revocations", method: .post, headers: Self.headers(),
                                                 body: Self.json(#"{"kind":"payer","subject":"\#(Self.payer)","reason":"sanctioned"}"#))
            #expect(payer.status == .created)
            #expect(controls.isRevoked(payer: Self.payer))

            let status = try await client.execute(uri: "/admin/status", method: .get, headers: Self.headers())
            #expect(status.status == .ok)
            let revocations = try #require(try Self.object(status)["revocations"] as? [[String: String]])
            #expect(revocations == [["kind": "client", "subject": "analyst", "reason": "leaked key"],
                                    ["kind": "payer", "subject": Self.payer.lowercased(), "reason": "sanctioned"]])

            let lifted = try await client.execute(uri: "/admin/revocations/client/analyst", method: .delete, headers: Self.headers())
            #expect(lifted.status == .ok)
            #expect(!controls.isRevoked(client: "analyst"))
            let again = try await client.execute(uri: "/admin/revocations/client/analyst", method: .delete, headers: Self.headers())
            #expect(again.status == .notFound)
            #expect(try Self.object(again)["error"] as? String == "not_found")
            let payerLifted = try await client.execute(uri: "/admin/revocations/payer/\(Self.payer.uppercased().replacingOccurrences(of: "0X", with: "0x"))",
                                                       method: .delete, headers: Self.headers())
            #expect(payerLifted.status == .ok)
            #expect(!controls.isRevoked(payer: Self.payer))
        }
        let log = try await fixture.store.auditEvents(stage: .admin)
        #expect(log.map(\.event.reason) == ["revoke", "revoke", "unrevoke", "unrevoke"])
        #expect(log.map(\.event.clientId) == ["admin:alice", "admin", "admin", "admin"])
    }

    @Test func incidentSwitchesOnAndOff() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let controls = fixture.controls
        try await fixture.run { client in
            let on = try await client.execute(uri: "/admin/incidents", method: .post, headers: Self.headers(),
                                              body: Self.json(#"{"route":null,"reason":"facilitator settling twice"}"#))
            #expect(on.status == .created)
            let incident = try Self.object(on)
            let id = try #require(incident["id"] as? String)
            #expect(id.hasPrefix("inc_"))
            #expect(incident["scope"] as? String == "global")
            #expect(controls.incident(for: "datasets")?.id == id)
            #expect(controls.incident(for: "reports")?.id == id)

            let twice = try await client.execute(uri: "/admin/incidents", method: .post, headers: Self.headers(),
                                                 body: Self.json(#"{"reason":"again"}"#))
            #expect(twice.status == .conflict)

            let route = try await client.execute(uri: "/admin/incidents", method: .post, headers: Self.headers(),
                                                 body: Self.json(#"{"route":"datasets","reason":"bad data"}"#))
            #expect(route.status == .created)
            #expect(try Self.object(route)["scope"] as? String == "datasets")

            let off = try await client.execute(uri: "/admin/incidents", method: .delete, headers: Self.headers())
            #expect(off.status == .ok)
            #expect(try Self.object(off)["id"] as? String == id)
            #expect(controls.incident(for: "reports") == nil)
            #expect(controls.incident(for: "datasets")?.reason == "bad data")
            #expect(try await client.execute(uri: "/admin/incidents", method: .delete, headers: Self.headers()).status == .notFound)

            let routeOff = try await client.execute(uri: "/admin/incidents/datasets", method: .delete, headers: Self.headers())
            #expect(routeOff.status == .ok)
            #expect(controls.incident(for: "datasets") == nil)
            #expect(try await client.execute(uri: "/admin/incidents/datasets", method: .delete, headers: Self.headers()).status == .notFound)
        }
        #expect(try await fixture.store.loadControls() == ControlsSnapshot())
    }

    @Test func badInputIsA400NeverA500() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await fixture.run { client in
            let bodies = [
                ("/admin/revocations", "not json"),
                ("/admin/revocations", #"{"kind":"device","subject":"alice","reason":"x"}"#),
                ("/admin/revocations", #"{"kind":"client","reason":"x"}"#),
                ("/admin/revocations", #"{"kind":"client","subject":"alice","reason":""}"#),
                ("/admin/revocations", #"{"kind":"payer","subject":"0x1234","reason":"x"}"#),
                ("/admin/revocations", #"{"kind":"client","subject":7,"reason":"x"}"#),
                ("/admin/incidents", #"{"route":"global","reason":"x"}"#),
                ("/admin/incidents", "[]"),
            ]
            for (uri, body) in bodies {
                let response = try await client.execute(uri: uri, method: .post, headers: Self.headers(), body: Self.json(body))
                #expect(response.status == .badRequest, "\(body)")
                let answer = try Self.object(response)
                #expect(answer["error"] as? String == "bad_request")
                #expect((answer["reason"] as? String)?.isEmpty == false)
            }
            let badActor = try await client.execute(uri: "/admin/revocations", method: .post, headers: Self.headers(actor: "al ice\n"),
                                                    body: Self.json(#"{"kind":"client","subject":"alice","reason":"x"}"#))
            #expect(badActor.status == .badRequest)
            #expect(try await client.execute(uri: "/admin/revocations/device/alice", method: .delete, headers: Self.headers()).status == .badRequest)
            #expect(try await client.execute(uri: "/admin/spend?payer=0x1234", method: .get, headers: Self.headers()).status == .badRequest)
            #expect(try await client.execute(uri: "/admin/limits?organisation=", method: .get, headers: Self.headers()).status == .badRequest)
        }
        #expect(try await fixture.store.loadControls() == ControlsSnapshot())
        #expect(try await fixture.store.auditEvents(stage: .admin).isEmpty)
    }

    @Test func spendSumsTheLedger() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let store = fixture.store
        for (nonce, client, amount) in [("0x01", "alice", "10000"), ("0x02", "alice", "25000"), ("0x03", "bob", "7")] {
            let key = ProofKey(network: "eip155:84532", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", payer: Self.payer, nonce: nonce)
            let flow = "flow-\(nonce)"
            _ = try await store.reserve(Reservation(key: key, correlationId: flow, clientId: client, resource: "datasets", validBefore: 2_000_000_000),
                                        events: [])
            try await store.finish(key, state: .settled, payment: PaymentRecord(
                correlationId: flow, rail: "x402-exact-evm", network: key.network, asset: key.asset, payer: key.payer,
                payee: "0x209693bc6afc0c5328ba36faf03c514ef312287c", amount: amount, nonce: nonce, transaction: "0xtx\(nonce)",
                clientId: client, resource: "datasets", unit: "request", quantity: 1, settledAtMillis: 1_750_000_000_000), events: [])
        }
        try await fixture.run { client in
            let alice = try await client.execute(uri: "/admin/spend?client=alice", method: .get, headers: Self.headers())
            #expect(alice.status == .ok)
            #expect(String(buffer: alice.body)
                == #"{"count":2,"totals":[{"amount":"35000","asset":"0x036cbd53842c5426634e7929541ec2318f3dcf7e","network":"eip155:84532"}]}"#)
            let payer = try await client.execute(uri: "/admin/spend?payer=\(Self.payer.lowercased())", method: .get, headers: Self.headers())
            #expect(try Self.object(payer)["count"] as? Int == 3)
            let everyone = try await client.execute(uri: "/admin/spend", method: .get, headers: Self.headers())
            #expect(try Self.object(everyone)["count"] as? Int == 3)
            let nobody = try await client.execute(uri: "/admin/spend?client=nobody", method: .get, headers: Self.headers())
            #expect(String(buffer: nobody.body) == #"{"count":0,"totals":[]}"#)
        }
    }

    @Test func limitsShowPolicyAndUse() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        _ = try await fixture.store.holdSpend([SpendHold(subject: "client:alice", bucket: "eip155:84532/0xabc/day:2026-11-25",
                                                         amount: TokenAmount(atomic: "700")!, maximum: TokenAmount(atomic: "1000")!)],
                                              correlationId: "f1")
        let policy = AdminPolicyView(limits: .init(unpaid: RateLimit(ratePerSecond: 5, burst: 10)),
                                     spendCaps: [SpendCap(subject: .client, period: .day, network: "eip155:84532", asset: "0xabc",
                                                          maximum: TokenAmount(atomic: "1000")!)])
        let router = AdminAPI.router(store: fixture.store, controls: fixture.controls, token: Array(Self.token.utf8), policy: policy,
                                     logger: Listener.quiet)
        try await Application(router: router, logger: Listener.quiet).test(.router) { client in
            let answer = try await client.execute(uri: "/admin/limits?client=alice", method: .get, headers: Self.headers())
            #expect(answer.status == .ok)
            let body = try Self.object(answer)
            let limits = try #require(body["limits"] as? [String: Any])
            #expect((limits["unpaid"] as? [String: Any])?["burst"] as? Int == 10)
            #expect(limits["paid"] == nil)
            #expect((body["spendCaps"] as? [[String: Any]])?.first?["max"] as? String == "1000")
            let used = try #require(body["used"] as? [String: [String: String]])
            #expect(used["client:alice"]?["eip155:84532/0xabc/day:2026-11-25"] == "700")
            let denied = try await client.execute(uri: "/admin/limits", method: .get, headers: Self.headers(token: "wrong-token-0123456789"))
            #expect(denied.status == .unauthorized)
        }
    }
}
