import Crypto
import Foundation
import GRDB
import Testing
import TollgateCore
@testable import TollgateSQLite

/// Trace lookups, disputes and evidence bundles against a real SQLite file.
@Suite struct SupportQueryTests {
    static let payer = "0xAbC0000000000000000000000000000000000001"
    static let otherPayer = "0x00000000000000000000000000000000000000b2"
    static let keys = KeyRing([SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!])!
    static let body = Array(#"{"prices":[1,2,3]}"#.utf8)
    static let asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    static let payee = "0x209693bc6afc0c5328ba36faf03c514ef312287c"

    /// Flows written through the store's public methods: A paid and delivered, B refused before any
    /// reservation (continued in C, a fresh offer), D another payer's.
    struct Fixture {
        let database: TemporaryDatabase
        let paid = CorrelationId.make(), refused = CorrelationId.make(), fresh = CorrelationId.make(), other = CorrelationId.make()
        let paidNonce = "0x" + String(repeating: "a1", count: 32), refusedNonce = "0x" + String(repeating: "b2", count: 32)
        let otherNonce = "0x" + String(repeating: "c3", count: 32)
        let transaction = "0x" + String(repeating: "d4", count: 32)
        let token: String
        let payload: String

        init() async throws {
            database = try TemporaryDatabase()
            let store = database.store
            let signer = OfferSigner(keys: SupportQueryTests.keys)
            token = signer.sign(Offer(correlationId: paid, resource: "datasets", request: "GET /datasets/prices", bodyDigest: nil,
                                      client: "alice", network: "eip155:84532", asset: SupportQueryTests.asset,
                                      amount: TokenAmount(atomic: "10000")!, payTo: SupportQueryTests.payee, unit: "request", quantity: 1,
                                      maxTimeoutSeconds: 60, expiresAt: 2_000_000_000)).token
            payload = #"{"x402Version":2,"payload":{"authorization":{"from":"\#(SupportQueryTests.payer)","nonce":"\#(paidNonce)","#
                + #""value":"10000"},"signature":"0x99"}}"#

            // A: offer, proof, verify, reserve, facilitator, forward, settle, respond.
            try await store.append([Self.event(paid, .offer, .issued, 1_000, reason: "payment_required")])
            let key = ProofKey(network: "eip155:84532", asset: SupportQueryTests.asset, payer: SupportQueryTests.payer, nonce: paidNonce)
            let reservation = Reservation(key: key, correlationId: paid, clientId: "alice", resource: "datasets", validBefore: 2_000_000_000,
                                          offerToken: token, payload: payload)
            let received = Self.received(SupportQueryTests.payer, nonce: paidNonce)
            #expect(try await store.reserve(reservation, events: [
                Self.event(paid, .proof, .received, 1_001, details: received),
                Self.event(paid, .verify, .ok, 1_002, details: ["checks": "all"]),
                Self.event(paid, .reserve, .ok, 1_003, details: ["proof": key.description]),
            ]) == .reserved)
            let digest = HexString.encode(SHA256.hash(data: SupportQueryTests.body))
            let payment = PaymentRecord(correlationId: paid, rail: "x402-exact-evm", network: key.network, asset: key.asset, payer: key.payer,
                                        payee: SupportQueryTests.payee, amount: "10000", nonce: key.nonce, transaction: transaction,
                                        clientId: "alice", resource: "datasets", unit: "request", quantity: 1, settledAtMillis: 1_007,
                                        bodySHA256: digest)
            try await store.finish(key, state: .settled, payment: payment, events: [
                Self.event(paid, .facilitatorVerify, .ok, 1_004),
                Self.event(paid, .forward, .ok, 1_005, details: ["status": "200", "latency_ms": "6"]),
                Self.event(paid, .settle, .ok, 1_006,
                           details: ["transaction": transaction, "network": key.network, "asset": key.asset, "amount": "10000"]),
                Self.event(paid, .respond, .ok, 1_007, reason: "delivered",
                           details: ["status": "200", "settled": "true", "body_sha256": digest, "bytes": String(SupportQueryTests.body.count)]),
            ])
            // B: refused at verification (nothing reserved), continued in C. Its payer is spelt in upper case.
            let shouted = "0x" + SupportQueryTests.payer.dropFirst(2).uppercased()
            try await store.append([
                Self.event(refused, .offer, .issued, 2_000, reason: "payment_required"),
                Self.event(refused, .proof, .received, 2_001, details: Self.received(shouted, nonce: refusedNonce)),
                Self.event(refused, .verify, .denied, 2_002, reason: "offer_expired", details: ["detail": "expired", "next_correlation_id": fresh]),
                Self.event(fresh, .offer, .issued, 2_003, reason: "offer_expired", details: ["previous_correlation_id": refused]),
                Self.event(other, .proof, .received, 3_000, details: Self.received(SupportQueryTests.otherPayer, nonce: otherNonce)),
            ])
        }

        static func received(_ payer: String, nonce: String) -> [String: String] {
            ["payer": payer, "network": "eip155:84532", "asset": SupportQueryTests.asset, "amount": "10000", "nonce": nonce, "rail": "x402-exact-evm"]
        }

        static func event(_ flow: String, _ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome, _ millis: Int64, reason: String? = nil,
                          details: [String: String] = [:]) -> AuditEvent {
            AuditEvent(correlationId: flow, timeMillis: millis, stage: stage, outcome: outcome, reason: reason, clientId: "alice",
                       resource: "datasets", details: details)
        }

        func bundle(_ flow: String, keys: KeyRing? = SupportQueryTests.keys) async throws -> EvidenceBundle {
            let material = try #require(try await database.store.evidenceMaterial(correlationId: flow))
            return try EvidenceBundle.assemble(material, dispute: try await database.store.disputes(correlationId: flow).first,
                                               offers: keys.map(OfferSigner.init(keys:)), generatedAtMillis: 5_000)
        }
    }

    @Test func payerFindsEveryFlowNewestFirstWhateverItsCase() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let match = try await fixture.database.store.flows(matching: try TraceKey(parsing: Self.payer), limit: 20)
        #expect(match.correlationIds == [fixture.refused, fixture.paid])
        #expect(match.total == 2)
        #expect(match.matchedAs == ["payer": ["audit_event", "payment", "proof_evidence"]])
        let limited = try await fixture.database.store.flows(matching: .payer(Self.payer.lowercased()), limit: 1)
        #expect(limited.correlationIds == [fixture.refused] && limited.total == 2)
        let nobody = try await fixture.database.store.flows(matching: .payer("0x" + String(repeating: "e", count: 40)), limit: 20)
        #expect(nobody.correlationIds.isEmpty && nobody.total == 0 && nobody.matchedAs.isEmpty)
    }

    @Test func transactionNonceAndCorrelationIdFindTheirFlow() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let store = fixture.database.store
        let byTransaction = try await store.flows(matching: try TraceKey(parsing: "0x" + fixture.transaction.dropFirst(2).uppercased()), limit: 20)
        #expect(byTransaction.correlationIds == [fixture.paid])
        #expect(byTransaction.matchedAs == ["transaction": ["audit_event", "payment"]])
        let byNonce = try await store.flows(matching: try TraceKey(parsing: fixture.paidNonce), limit: 20)
        #expect(byNonce.correlationIds == [fixture.paid])
        #expect(byNonce.matchedAs == ["nonce": ["audit_event", "payment", "proof_evidence"]])
        // Refused before reservation: only the audit details know the nonce.
        let refused = try await store.flows(matching: try TraceKey(parsing: fixture.refusedNonce), limit: 20)
        #expect(refused.correlationIds == [fixture.refused] && refused.matchedAs == ["nonce": ["audit_event"]])
        let byId = try await store.flows(matching: try TraceKey(parsing: "tg_" + fixture.fresh.dropFirst(3).uppercased()), limit: 20)
        #expect(byId.correlationIds == [fixture.fresh] && byId.matchedAs == ["correlation id": ["audit_event"]])
        let links = FlowLink.links(in: try await store.events(correlationId: fixture.refused))
        #expect(links.map(\.summary) == ["continued in \(fixture.fresh)"])
    }

    /// A claim's events name the payer and nonce its evidence row indexes, a settlement's event the transaction its ledger
    /// row indexes: those events add no entries to the audit lookup indexes (each was a random-key leaf in a paid request's
    /// commit), and the trace above still names them. A refused proof has no such row: its event keeps its entries.
    @Test("events whose keys a claim's evidence or a settlement's ledger row index add no audit lookup entries; others do")
    func eventsCoveredByTheirFlowsRowsAddNoLookupEntries() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let columns = { (flow: String) in
            try await fixture.database.store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT stage, payer, nonce, tx FROM audit_event WHERE correlation_id = ? AND (payer IS NOT NULL OR nonce IS NOT NULL OR tx IS NOT NULL)",
                                 arguments: [flow]).map { "\($0["stage"] as String) \(($0["payer"] as String?) ?? "-") \(($0["nonce"] as String?) ?? "-") \(($0["tx"] as String?) ?? "-")" }
            }
        }
        #expect(try await columns(fixture.paid).isEmpty)
        #expect(try await columns(fixture.refused) == ["proof \(Self.payer.lowercased()) \(fixture.refusedNonce) -"])
        #expect(try await columns(fixture.other) == ["proof \(Self.otherPayer) \(fixture.otherNonce) -"])
    }

    /// A second settlement of the same authorization under another transaction (two resolutions racing, a facilitator
    /// that settled twice) writes no second ledger row: its event keeps its transaction's lookup entry, so support still
    /// finds the flow by that transaction.
    @Test("a settlement whose ledger row already existed keeps its event's transaction entry: the flow is found by it")
    func aTransactionNoLedgerRowHoldsIsStillFound() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let store = fixture.database.store
        let key = ProofKey(network: "eip155:84532", asset: Self.asset, payer: Self.payer, nonce: fixture.paidNonce)
        let second = "0x" + String(repeating: "e5", count: 32)
        let payment = PaymentRecord(correlationId: fixture.paid, rail: "x402-exact-evm", network: key.network, asset: key.asset,
                                    payer: key.payer, payee: Self.payee, amount: "10000", nonce: key.nonce, transaction: second,
                                    clientId: "alice", resource: "datasets", unit: "request", quantity: 1, settledAtMillis: 1_100)
        try await store.finish(key, state: .settled, payment: payment, events: [
            Fixture.event(fixture.paid, .settle, .ok, 1_100, details: ["transaction": second]),
        ])
        let found = try await store.flows(matching: try TraceKey(parsing: second), limit: 20)
        #expect(found.correlationIds == [fixture.paid])
        #expect(found.matchedAs == ["transaction": ["audit_event"]])
        let ledger = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT tx FROM payment WHERE correlation_id = ?", arguments: [fixture.paid]) }
        #expect(ledger == [fixture.transaction])
    }

    /// The ledger keeps a transaction as the facilitator spelt it; a trace lowercases what support types. The ledger's
    /// lookup folds case, and an event whose transaction is not lowercase keeps its lookup entry, so the flow is found in
    /// both by either spelling.
    @Test("a transaction the facilitator spelt in upper case is found by its lowercase spelling too")
    func aMixedCaseTransactionIsFoundWhateverItsCase() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let flow = CorrelationId.make()
        let key = ProofKey(network: "eip155:84532", asset: Self.asset, payer: Self.payer, nonce: "0x" + String(repeating: "f6", count: 32))
        let transaction = "0x" + String(repeating: "Ab", count: 32)
        #expect(try await store.reserve(Reservation(key: key, correlationId: flow, clientId: "alice", resource: "datasets", validBefore: 2_000_000_000),
                                        events: []) == .reserved)
        let payment = PaymentRecord(correlationId: flow, rail: "x402-exact-evm", network: key.network, asset: key.asset, payer: key.payer,
                                    payee: Self.payee, amount: "10000", nonce: key.nonce, transaction: transaction, clientId: "alice",
                                    resource: "datasets", unit: "request", quantity: 1, settledAtMillis: 1_000)
        try await store.finish(key, state: .settled, payment: payment, events: [
            Fixture.event(flow, .settle, .ok, 1_000, details: ["transaction": transaction]),
        ])
        for spelling in [transaction, transaction.lowercased()] {
            let found = try await store.flows(matching: try TraceKey(parsing: spelling), limit: 20)
            #expect(found.correlationIds == [flow], "\(spelling)")
            #expect(found.matchedAs["transaction"] == ["audit_event", "payment"], "\(spelling)")
        }
    }

    @Test func lookupsUseTheIndexes() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        for key in [TraceKey.payer(Self.payer.lowercased()), .hash(fixture.paidNonce)] {
            let (hits, arguments) = SQLiteStore.hits(key)
            let plan = try await fixture.database.store.writer.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(hits)", arguments: arguments).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.hasPrefix("SCAN") }, "\(plan)")
            let expected = key == .payer(Self.payer.lowercased()) ? ["audit_event_payer"] : ["audit_event_nonce", "audit_event_transaction", "payment_tx_lower"]
            for index in expected { #expect(plan.contains { $0.contains(index) }, "\(plan)") }
        }
    }

    @Test func malformedKeysNameTheAcceptedForms() throws {
        for bad in ["", "tg_123", "0x1234", "0x" + String(repeating: "g", count: 40), "payer", "tg_" + String(repeating: "a", count: 33)] {
            #expect(throws: TollgateError.self) { try TraceKey(parsing: bad) }
            do {
                _ = try TraceKey(parsing: bad)
            } catch {
                #expect(error.code == .malformedKey && error.message.contains("0x + 40 hex"))
            }
        }
        #expect(try TraceKey(parsing: " admin_00112233aabbccdd ") == .correlationId("admin_00112233aabbccdd"))
    }

    @Test func disputeOpensOncePerFlowAndClosesAudited() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let store = fixture.database.store
        let first = try await store.openDispute(correlationId: fixture.paid, reason: "paid but got nothing", actor: "cli:sam", nowMillis: 9_000)
        #expect(DisputeRecord.isId(first.id) && first.state == .open && first.correlationId == fixture.paid)
        do {
            _ = try await store.openDispute(correlationId: fixture.paid, reason: "again", actor: "cli:sam", nowMillis: 9_001)
            Issue.record("a second open dispute was accepted")
        } catch let error as TollgateError {
            #expect(error.code == .disputeAlreadyOpen && error.disputeId == first.id && error.message.contains(first.id))
        }
        await #expect(throws: TollgateError(.unknownFlow, "no audit event carries the correlation id tg_\(String(repeating: "0", count: 32))")) {
            try await store.openDispute(correlationId: "tg_" + String(repeating: "0", count: 32), reason: "x", actor: "a", nowMillis: 1)
        }
        await #expect(throws: TollgateError.self) {
            try await store.openDispute(correlationId: fixture.refused, reason: "  ", actor: "a", nowMillis: 1)
        }
        #expect(try await store.disputes(state: .open, limit: 10).map(\.id) == [first.id])

        let closed = try await store.closeDispute(id: first.id, resolution: "delivered, body hash matches", actor: "cli:lee", nowMillis: 9_500)
        #expect(closed.state == .closed && closed.closedBy == "cli:lee" && closed.closedAtMillis == 9_500)
        #expect(try await store.dispute(id: first.id) == closed)
        #expect(try await store.disputes(state: .open, limit: 10).isEmpty)
        do {
            _ = try await store.closeDispute(id: first.id, resolution: "again", actor: "cli:lee", nowMillis: 9_600)
            Issue.record("a closed dispute was closed again")
        } catch let error as TollgateError {
            #expect(error.code == .disputeNotOpen)
        }
        let audited = try await store.events(correlationId: fixture.paid).filter { $0.event.stage == .dispute }
        #expect(audited.map(\.event.outcome) == [.received, .ok])
        #expect(audited.map { $0.event.details["dispute_id"] } == [first.id, first.id])
        #expect(audited.allSatisfy { $0.event.clientId == "alice" && $0.event.resource == "datasets" })
        let second = try await store.openDispute(correlationId: fixture.paid, reason: "charged twice", actor: "cli:sam", nowMillis: 9_700)
        #expect(second.id != first.id)
    }

    @Test func evidenceBundleHoldsOfferPayloadSettlementDeliveryAndChain() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let dispute = try await fixture.database.store.openDispute(correlationId: fixture.paid, reason: "nothing arrived", actor: "cli:sam",
                                                                   nowMillis: 9_000)
        let bundle = try await fixture.bundle(fixture.paid)

        #expect(bundle.dispute?.id == dispute.id && bundle.correlationId == fixture.paid)
        let offer = try #require(bundle.offer)
        #expect(offer.token == fixture.token && offer.macVerified == true && offer.matchesFlow && offer.keyId == "k1")
        #expect(offer.claims?["cid"]?.string == fixture.paid && offer.claims?["amt"]?.string == "10000")
        #expect(bundle.paymentPayload == JSONValue.parse(Array(fixture.payload.utf8)))
        #expect(bundle.paymentPayload?["payload"]?["authorization"]?["nonce"]?.string == fixture.paidNonce)
        #expect(bundle.verification.map(\.stage) == ["proof", "verify", "facilitator_verify"])
        #expect(bundle.settlement.state == "settled")
        let payment = try #require(bundle.settlement.payments.first)
        #expect(payment.tx == fixture.transaction && payment.amount == "10000" && payment.payer == Self.payer.lowercased())
        #expect(bundle.upstream.first?.status == 200 && bundle.upstream.first?.latencyMs == 6)
        let digest = HexString.encode(SHA256.hash(data: Self.body))
        #expect(bundle.delivery.first?.bodySha256 == digest && payment.bodySha256 == digest)
        #expect(bundle.refunds.isEmpty)
        #expect(bundle.auditChain.count == 9)  // 8 flow events and the dispute
        #expect(bundle.auditChain.allSatisfy { $0.recomputed && $0.linked } && bundle.auditChainIntact)
        #expect(bundle.chainHead?.seq == bundle.auditChain.last?.seq && bundle.chainHead?.hash == bundle.auditChain.last?.hash)

        // The digest covers the canonical document; an edit of the exported file shows.
        let document = try bundle.encoded(pretty: true)
        let digests = try #require(EvidenceBundle.digests(ofDocument: document))
        #expect(digests.stated == bundle.bundleSha256 && digests.computed == bundle.bundleSha256)
        let edited = Array(String(decoding: document, as: UTF8.self).replacingOccurrences(of: "\"10000\"", with: "\"1\"").utf8)
        #expect(EvidenceBundle.digests(ofDocument: edited)?.computed != bundle.bundleSha256)

        let foreign = try await fixture.bundle(fixture.paid, keys: KeyRing([SecretKey(id: "k9", secret: Array(repeating: 1, count: 32))!]))
        #expect(foreign.offer?.macVerified == false && foreign.offer?.macFailure == "unknown_key")
        #expect(foreign.notes.contains { $0.contains("does not verify") })
    }

    /// A bundle goes to customers and tickets: a payload whose authorization could still move money (not settled, its
    /// validBefore not passed or unreadable) loses its signature, kept as the signature's SHA-256; a settled or expired
    /// one is evidence as it is.
    @Test func aPayloadThatCouldStillBeSpentIsHandedOutWithoutItsSignature() throws {
        let signature = "0x" + String(repeating: "5e", count: 65)
        func payload(validBefore: String?) -> JSONValue {
            var authorization: [String: JSONValue] = ["from": .string(Self.payer), "nonce": .string("0x01")]
            if let validBefore { authorization["validBefore"] = .string(validBefore) }
            return .object(["x402Version": .integer(2), "payload": .object(["signature": .string(signature), "authorization": .object(authorization)])])
        }
        let (live, redacted) = EvidenceBundle.withoutLiveSignature(payload(validBefore: "2000"), settled: false, nowSeconds: 1_000)
        #expect(redacted)
        #expect(live["payload"]?["signature"]?.string == "sha256:" + HexString.encode(SHA256.hash(data: Array(signature.utf8))))
        #expect(live["payload"]?["authorization"] == payload(validBefore: "2000")["payload"]?["authorization"])
        #expect(EvidenceBundle.withoutLiveSignature(payload(validBefore: nil), settled: false, nowSeconds: 1_000).redacted)
        #expect(!EvidenceBundle.withoutLiveSignature(payload(validBefore: "2000"), settled: true, nowSeconds: 1_000).redacted)
        let expired = EvidenceBundle.withoutLiveSignature(payload(validBefore: "999"), settled: false, nowSeconds: 1_000)
        #expect(!expired.redacted && expired.0 == payload(validBefore: "999"))
    }

    @Test func evidenceDetectsAnEditedOrDeletedEvent() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let forward = try #require(try await fixture.database.store.events(correlationId: fixture.paid).first { $0.event.stage == .forward })
        try await fixture.database.store.writer.write { db in
            try db.execute(sql: "UPDATE audit_event SET details = json_set(details, '$.status', '500') WHERE seq = ?", arguments: [forward.seq])
        }
        let edited = try await fixture.bundle(fixture.paid)
        #expect(edited.auditChain.filter { !$0.recomputed }.map(\.seq) == [forward.seq])
        #expect(!edited.auditChainIntact && edited.notes.contains { $0.contains("do not recompute") })
        #expect(edited.upstream.first?.status == 500)

        try await fixture.database.store.writer.write { db in
            try db.execute(sql: "DELETE FROM audit_event WHERE seq = ?", arguments: [forward.seq])
        }
        let deleted = try await fixture.bundle(fixture.paid)
        // Both neighbours of the hole: the one before is no longer linked to by its next row, the one after links nowhere.
        #expect(deleted.auditChain.filter { !$0.linked }.map(\.seq) == [forward.seq - 1, forward.seq + 1])
        #expect(deleted.notes.contains { $0.contains("do not link") })

        // The flow's last event deleted (the next row belongs to another flow): its remaining last event shows it.
        let last = try #require(try await fixture.database.store.events(correlationId: fixture.paid).last)
        try await fixture.database.store.writer.write { db in try db.execute(sql: "DELETE FROM audit_event WHERE seq = ?", arguments: [last.seq]) }
        let truncated = try await fixture.bundle(fixture.paid)
        #expect(truncated.auditChain.last.map { !$0.linked } == true)
        #expect(!truncated.auditChainIntact)
    }

    @Test func evidenceOfARefusedFlowFollowsItsLinkAndSaysWhatIsMissing() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let bundle = try await fixture.bundle(fixture.refused)
        #expect(bundle.offer == nil && bundle.paymentPayload == nil && bundle.settlement.state == "not_attempted")
        #expect(bundle.linkedFlows.map(\.correlationId) == [fixture.fresh])
        #expect(Set(bundle.auditChain.map(\.correlationId)) == [fixture.refused, fixture.fresh])
        #expect(bundle.verification.first?.details["nonce"] == fixture.refusedNonce)
        #expect(bundle.notes.contains { $0.contains("no proof was reserved") })
        #expect(bundle.auditChainIntact)
    }

    @Test func evidenceIncludesTheFlowsRefunds() async throws {
        let fixture = try await Fixture()
        defer { fixture.database.remove() }
        let refund = try await fixture.database.store.refund(RefundRequest(correlationId: fixture.paid, reason: "not delivered", actor: "cli:sam"),
                                                            nowMillis: 9_100)
        let bundle = try await fixture.bundle(fixture.paid)
        #expect(bundle.refunds == [refund])
        #expect(try await fixture.bundle(fixture.refused).refunds.isEmpty)
    }
}
