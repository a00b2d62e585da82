import Foundation
import HTTPTypes
import Logging
import Synchronization
import Testing
import TollgateCore
@testable import TollgateX402

/// `/settle` moves money: once a request may have reached a facilitator, asking another one could settle
/// twice, so only a failure to connect at all moves on.
@Suite struct SettlementFailoverTests {
    let logger = Logger(label: "test")
    let base = ExactEVMRailTests()

    func rail(_ facilitators: [ScriptedFacilitator]) async -> ExactEVMRail {
        let pool = FacilitatorPool(facilitators.map { .init(facilitator: $0, networks: ["eip155:84532"], breaker: .init()) })
        await pool.refresh(logger: logger)
        return ExactEVMRail(assets: [ExactEVMRailTests.asset], facilitators: pool)
    }

    @Test(arguments: [RailFailure.Code.timeout, .connectionLost, .badStatus, .undecodable])
    func aFailureAfterTheRequestMayHaveArrivedIsNeverFailedOver(code: RailFailure.Code) async throws {
        let first = ScriptedFacilitator(name: "first", settle: { throw RailFailure(code, "lost", authority: "first") })
        let second = ScriptedFacilitator(name: "second")
        let rail = await rail([first, second])
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        let proof = try base.paidProof(rail, offer: offer, now: now)
        let attempts = Mutex<[String]>([])

        await #expect(throws: RailFailure.self) {
            try await rail.settle(proof, offer: offer, before: { attempt in attempts.withLock { $0.append(attempt.authority) } }, logger: logger)
        }
        #expect(first.calls.withLock { $0 } == 1)
        #expect(second.calls.withLock { $0 } == 0)
        #expect(attempts.withLock { $0 } == ["first"])
    }

    @Test func aFacilitatorThatCannotBeConnectedToIsSkippedAndEachAttemptRecordedFirst() async throws {
        let first = ScriptedFacilitator(name: "first", settle: { throw RailFailure(.unreachable, "refused", authority: "first") })
        let second = ScriptedFacilitator(name: "second")
        let rail = await rail([first, second])
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        let proof = try base.paidProof(rail, offer: offer, now: now)
        let attempts = Mutex<[String]>([])

        let settlement = try await rail.settle(proof, offer: offer, before: { attempt in attempts.withLock { $0.append(attempt.authority) } },
                                               logger: logger)

        #expect(settlement.status == .settled)
        #expect(attempts.withLock { $0 } == ["first", "second"])
        #expect(second.calls.withLock { $0 } == 1)
    }

    /// A settlement answer about another payment (another payer or network: a lie, or an answer read as another
    /// request's) is neither settled nor failed: the outcome is unknown, and no other facilitator is asked.
    /// A success naming no transaction is no evidence of what moved: not taken either.
    @Test(arguments: [("0x00000000000000000000000000000000000000aa", "eip155:84532", "0xabc"), (nil, "eip155:8453", "0xabc"),
                      (nil, "eip155:84532", ""), (nil, "eip155:84532", " ")])
    func aSettlementAnswerAboutAnotherPaymentIsNotTaken(payer: String?, network: String, transaction: String) async throws {
        let first = ScriptedFacilitator(name: "first", settle: { .init(success: true, payer: payer, transaction: transaction, network: network) })
        let second = ScriptedFacilitator(name: "second")
        let rail = await rail([first, second])
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        let proof = try base.paidProof(rail, offer: offer, now: now)
        do {
            let settlement = try await rail.settle(proof, offer: offer, before: { _ in }, logger: logger)
            Issue.record("taken as \(settlement.status)")
        } catch let failure as RailFailure {
            #expect(failure.code == .undecodable && failure.reachedAuthority)
        }
        #expect(second.calls.withLock { $0 } == 0)
        // The payment's own payer, in any case, is this payment's answer.
        let honest = ScriptedFacilitator(name: "honest", settle: { .init(success: true, payer: proof.payer.uppercased(), transaction: "0xabc", network: "eip155:84532") })
        let honestRail = await self.rail([honest])
        #expect(try await honestRail.settle(proof, offer: offer, before: { _ in }, logger: logger).status == .settled)
    }

    @Test func nothingIsSentWhenTheIntentCannotBeRecorded() async throws {
        let only = ScriptedFacilitator(name: "only")
        let rail = await rail([only])
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        let proof = try base.paidProof(rail, offer: offer, now: now)
        struct DiskFull: Error {}

        await #expect(throws: DiskFull.self) { try await rail.settle(proof, offer: offer, before: { _ in throw DiskFull() }, logger: logger) }
        #expect(only.calls.withLock { $0 } == 0)
    }

    @Test func resettlingAsksTheSameFacilitatorWithTheSameBody() async throws {
        let first = ScriptedFacilitator(name: "first")
        let second = ScriptedFacilitator(name: "second")
        let rail = await rail([first, second])
        let attempt = SettlementAttempt(authority: "second", request: Array(#"{"x402Version":2}"#.utf8))

        _ = try await rail.resettle(attempt, logger: logger)

        #expect(first.calls.withLock { $0 } == 0)
        #expect(second.bodies.withLock { $0 } == [attempt.request])
    }

    @Test func aRefusedConnectionIsReportedAsNeverConnected() async throws {
        // Port 9 on loopback: nothing listens there on a test machine.
        let facilitator = HTTPFacilitator(baseURL: "http://127.0.0.1:9", timeout: .seconds(2))
        let request = X402.FacilitatorRequest(body: Array("{}".utf8))
        do {
            _ = try await facilitator.settle(request, logger: logger)
            Issue.record("a closed port answered")
        } catch let failure as RailFailure {
            #expect(failure.code == .unreachable)
            #expect(!failure.reachedAuthority)
        }
    }

    @Test func theFacilitatorReceivesTheCheckedValuesReEncodedNotTheClientsBytes() async throws {
        let only = ScriptedFacilitator(name: "only")
        let rail = await rail([only])
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        let proof = try base.paidProof(rail, offer: offer, now: now)
        // The client spells its nonce without 0x, in capitals, and adds a field of its own.
        var json = String(decoding: proof.raw, as: UTF8.self)
        json = json.replacingOccurrences(of: proof.key.nonce, with: proof.key.nonce.dropFirst(2).uppercased())
        json = "{\"smuggled\":\"x\"," + json.dropFirst()
        var fields = HTTPFields()
        fields[HTTPField.Name("PAYMENT-SIGNATURE")!] = Data(json.utf8).base64EncodedString()
        guard case .proof(let respelled) = rail.decode(fields) else {
            Issue.record("the respelled proof did not decode")
            return
        }
        #expect(respelled.key == proof.key)

        _ = try await rail.verify(respelled, offer: offer, logger: logger)

        let body = try #require(only.bodies.withLock { $0.first })
        let sent = try #require(X402.FacilitatorRequest(body: body).contents())
        #expect(sent.paymentPayload.payload.authorization.nonce == proof.key.nonce)
        #expect(!String(decoding: body, as: UTF8.self).contains("smuggled"))
    }
}
