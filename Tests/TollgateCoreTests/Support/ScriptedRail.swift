import Foundation
import HTTPTypes
import Logging
import Synchronization
import TollgateCore

/// A `PaymentRail` whose every answer is scripted by the test, and which counts the calls that would
/// cost money or a network round trip (facilitator verify and settle).
///
/// Wire format: the proof is `Test-Proof: <TestProof JSON>`; a 402 carries `Test-Terms: <offer token> …`
/// (space separated, in offer order) and `Test-Challenge-Error`; a receipt is `Test-Receipt: <status> <tx>`.
final class ScriptedRail: PaymentRail {
    static let proofField = HTTPField.Name("Test-Proof")!
    static let termsField = HTTPField.Name("Test-Terms")!
    static let challengeErrorField = HTTPField.Name("Test-Challenge-Error")!
    static let receiptField = HTTPField.Name("Test-Receipt")!
    /// A field the rail declares as carrying proofs it does not read (like x402's v1 `X-PAYMENT`): stripped all the same.
    static let legacyProofField = HTTPField.Name("Test-Legacy-Proof")!

    /// The scripted rail's vocabulary: its own header names; the reason codes of the x402 rail, so the tests read
    /// the refusals clients know.
    let wire: RailWire

    /// - Parameter echoesOffers: false for a format whose proofs name no offer (as x402 v1): bound to the request.
    init(echoesOffers: Bool = true) {
        var wire = RailWire(
            proofFields: [Self.proofField, Self.legacyProofField], exposedFields: [Self.termsField, Self.receiptField],
            proofFormat: "test proof, header Test-Proof", paymentHint: "retry with a Test-Proof for one of the offers",
            authorizationUsed: .nonceAlreadyUsed, authorizationExpired: .validBefore,
            deterministicRefusals: [.signatureInvalid, .valueMismatch, .validBefore])
        wire.echoesOffers = echoesOffers
        self.wire = wire
    }

    struct Script: Sendable {
        var localVerdict: Verdict = .valid(payer: "")
        var ready = true
        var facilitator: Result<Verdict, RailFailure> = .success(.valid(payer: ""))
        /// Consumed one per settle call; when empty, settle answers `.settled`.
        var settlements: [Result<Settlement.Status, RailFailure>] = []
        var verifyCalls = 0
        var settleCalls = 0
        var resettleCalls = 0
        /// The reason of a `.failed` settlement.
        var failureReason = "invalid_exact_evm_insufficient_funds"
        /// What the chain says, where the test gives the rail an RPC.
        var chain: ChainAuthorization?
        /// Thrown by the chain reader instead (a node that times out, refuses a log query, contradicts itself).
        var chainFailure: RailFailure?
        /// The earliest spend time each chain read was given.
        var chainSince: [Int64?] = []
        /// Awaited by every verification before it answers (a slow facilitator, or one the test watches).
        var onVerify: (@Sendable () async -> Void)?
        /// Runs once the settlement's intent is recorded, before `/settle` answers (what happens elsewhere meanwhile).
        var onSettle: (@Sendable () async -> Void)?
        /// Runs while a resettle is in flight (another resolution of the same settlement landing meanwhile).
        var onResettle: (@Sendable () async -> Void)?
        /// The transaction settlements report; nil: `0xtx` and the call's number.
        var transaction: String?
    }

    /// The facilitator could not be connected to: nothing was sent.
    static let outage = RailFailure(.unreachable, "connection refused", authority: "http://facilitator.test")
    /// The facilitator received the request and its answer was lost: the outcome is unknown.
    static let lostAnswer = RailFailure(.timeout, "no answer within 5 s", authority: "http://facilitator.test")

    let name = "test-rail"
    private let script = Mutex(Script())

    func update(_ change: (inout Script) -> Void) { script.withLock { change(&$0) } }
    /// What the script holds now (the calls counted, the arguments recorded).
    var current: Script { script.withLock { $0 } }
    var verifyCalls: Int { script.withLock { $0.verifyCalls } }
    var settleCalls: Int { script.withLock { $0.settleCalls } }
    var resettleCalls: Int { script.withLock { $0.resettleCalls } }

    func challengeFields(_ challenge: PaymentChallenge) -> HTTPFields {
        var fields = HTTPFields()
        fields[Self.termsField] = challenge.offers.map(\.token).joined(separator: " ")
        fields[Self.challengeErrorField] = challenge.error
        return fields
    }

    func proofFingerprint(_ fields: HTTPFields) -> [UInt8]? {
        fields[Self.proofField].map { NegativeCache.key(Array($0.utf8)) }
    }

    func decode(_ fields: HTTPFields) -> ProofDecoding {
        guard let text = fields[Self.proofField] else { return .absent }
        guard let proof = try? JSONDecoder().decode(TestProof.self, from: Data(text.utf8)) else {
            return .malformed(.invalidPayload, detail: "Test-Proof is not a TestProof")
        }
        return .proof(proof.paymentProof(rail: name))
    }

    func verifyLocally(_ proof: PaymentProof, offer: Offer, now: Int64) -> Verdict {
        script.withLock { $0.localVerdict }
    }

    func isReady(network: String) -> Bool { script.withLock { $0.ready } }

    func verify(_ proof: PaymentProof, offer: SignedOffer, logger: Logger) async throws -> Verdict {
        let (answer, onVerify) = script.withLock { script in
            script.verifyCalls += 1
            return (script.facilitator, script.onVerify)
        }
        await onVerify?()
        return try answer.get()
    }

    func settle(_ proof: PaymentProof, offer: SignedOffer, before: @Sendable (SettlementAttempt) async throws -> Void,
                logger: Logger) async throws -> Settlement {
        let attempt = SettlementAttempt(authority: Self.outage.authority, request: Array(proof.key.description.utf8))
        // Like the real rail: a failure to connect happens before anything is sent, so no intent is recorded.
        let next = script.withLock { $0.settlements.first }
        if case .failure(let failure)? = next, !failure.reachedAuthority {
            _ = script.withLock { script in
                script.settleCalls += 1
                script.settlements.removeFirst()
            }
            throw failure
        }
        try await before(attempt)
        if let onSettle = script.withLock({ $0.onSettle }) { await onSettle() }
        return try nextSettlement(network: proof.network, payer: proof.payer)
    }

    func resettle(_ attempt: SettlementAttempt, logger: Logger) async throws -> Settlement {
        script.withLock { $0.resettleCalls += 1 }
        if let onResettle = script.withLock({ $0.onResettle }) { await onResettle() }
        return try nextSettlement(network: "eip155:84532", payer: "0xpayer")
    }

    func chainAuthorization(_ key: ProofKey, payee: String, amount: String, since: Int64?, logger: Logger) async throws -> ChainAuthorization? {
        let (chain, failure) = script.withLock { script in
            script.chainSince.append(since)
            return (script.chain, script.chainFailure)
        }
        if let failure { throw failure }
        return chain
    }

    private func nextSettlement(network: String, payer: String) throws -> Settlement {
        let (call, next, transaction) = script.withLock { script in
            script.settleCalls += 1
            return (script.settleCalls, script.settlements.isEmpty ? .success(.settled) : script.settlements.removeFirst(), script.transaction)
        }
        let status = try next.get()
        return Settlement(status: status, transaction: transaction ?? "0xtx\(call)", network: network, payer: payer,
                          errorReason: status == .failed ? script.withLock { $0.failureReason } : nil,
                          errorMessage: status == .failed ? "the payer has no funds" : nil)
    }

    func receiptFields(_ settlement: Settlement) -> HTTPFields {
        var fields = HTTPFields()
        fields[Self.receiptField] = "\(settlement.status.rawValue) \(settlement.transaction)"
        return fields
    }
}
