import HTTPTypes
import Logging

/// One way of being paid (x402 `exact` on EVM is the first). The pipeline only talks to this
/// contract, so a new rail is a new adapter, not a change to the pipeline.
public protocol PaymentRail: Sendable {
    /// A short id of the rail, recorded with every proof (`x402-exact-evm`).
    var name: String { get }

    /// Its header names, proof format, wording and reason codes (`RailWire`).
    var wire: RailWire { get }

    /// Header fields that state the terms of a 402 in the rail's wire format. Like `challengeBody`, a function of the
    /// challenge and the rail's configuration only (not of the clock or of state that changes while the gateway runs):
    /// the gateway learns each route's terms once and fills in each request's values (`TermsTemplate`).
    func challengeFields(_ challenge: PaymentChallenge) -> HTTPFields

    /// Members the rail adds to the 402's JSON body, already encoded, for clients that read their terms there (x402 v1:
    /// `x402Version` and `accepts`). An `accepts` takes the place of the gateway's own list; other names must be new.
    func challengeBody(_ challenge: PaymentChallenge) -> [String: RawJSON]

    /// Members the rail adds to a route's entry in the discovery manifest: its terms as a 402 would state them (its
    /// offers carry no token: the manifest is written for no client and no request).
    func catalogue(_ challenge: PaymentChallenge) -> [String: JSONValue]

    /// Finds and decodes a proof in a request.
    func decode(_ fields: HTTPFields) -> ProofDecoding

    /// A digest of the proof exactly as sent (before decoding), so a proof already refused can be
    /// refused again without decoding it. Non-nil exactly when the request carries a proof in a format
    /// this rail reads (well-formed or not), so the invalid-proof budget applies before any decoding.
    func proofFingerprint(_ fields: HTTPFields) -> [UInt8]?

    /// Checks that need no network: signature, amount, payee, time window, chain.
    func verifyLocally(_ proof: PaymentProof, offer: Offer, now: Int64) -> Verdict

    /// Whether the rail can currently verify and settle on `network` (facilitator reachable and supporting it).
    func isReady(network: String) -> Bool

    /// Verification by the rail's authority (the facilitator). Throws `RailFailure` when it cannot answer.
    func verify(_ proof: PaymentProof, offer: SignedOffer, logger: Logger) async throws -> Verdict

    /// Settles the payment. `before` is called with each attempt before it is sent, to record the intent;
    /// when it throws, nothing is sent and its error is rethrown. Another authority is tried only when the
    /// previous one could not be connected to at all. Throws `RailFailure`: when `failure.reachedAuthority`
    /// is false nothing was sent anywhere; otherwise the outcome is unknown.
    func settle(_ proof: PaymentProof, offer: SignedOffer, before: @Sendable (SettlementAttempt) async throws -> Void,
                logger: Logger) async throws -> Settlement

    /// Sends exactly this attempt again, to the same authority (resolving a pending or unknown settlement).
    func resettle(_ attempt: SettlementAttempt, logger: Logger) async throws -> Settlement

    /// What the chain says about the authorization under `key`, as a payment of `amount` (atomic) to `payee`: spent by a
    /// transaction that made no such transfer is `usedElsewhere`. `since` (Unix seconds) is the earliest time the payment
    /// can have been spent (the rail looks for the spend from then on only, and a spend before it stays unknown: throws).
    /// Nil when the rail cannot read that chain.
    func chainAuthorization(_ key: ProofKey, payee: String, amount: String, since: Int64?, logger: Logger) async throws -> ChainAuthorization?

    /// Header fields of the receipt sent with the response.
    func receiptFields(_ settlement: Settlement) -> HTTPFields
}

extension PaymentRail {
    /// Most rails state their terms in headers only.
    public func challengeBody(_ challenge: PaymentChallenge) -> [String: RawJSON] { [:] }

    public func catalogue(_ challenge: PaymentChallenge) -> [String: JSONValue] { [:] }
}

/// Everything a 402 states.
public struct PaymentChallenge: Sendable {
    public var resourceURL: String
    public var description: String
    public var mimeType: String
    public var offers: [SignedOffer]
    /// "Payment required" on a first request; the refusal reason on a repeated 402.
    public var error: String
    /// What the route publishes for discovery (method, input and output); nil when it opts out.
    public var discovery: Discovery?

    public init(resourceURL: String, description: String, mimeType: String, offers: [SignedOffer], error: String,
                discovery: Discovery? = nil) {
        self.discovery = discovery
        self.resourceURL = resourceURL
        self.description = description
        self.mimeType = mimeType
        self.offers = offers
        self.error = error
    }
}

/// What the rail found in a request.
public enum ProofDecoding: Sendable {
    case absent
    case malformed(Reason, detail: String)
    case proof(PaymentProof)
}

/// A verification outcome.
public enum Verdict: Sendable, Hashable {
    case valid(payer: String)
    /// Every local check held but the signature, which only the rail's authority can check (a smart wallet's): it is
    /// verified there before anything moves. Until then the payer is only what the proof claims.
    case signatureDeferred(payer: String)
    case invalid(Reason, detail: String)

    /// The payer of a verdict that lets the proof go on (valid, or its signature deferred).
    public var acceptedPayer: String? {
        switch self {
        case .valid(let payer), .signatureDeferred(let payer): payer
        case .invalid: nil
        }
    }
}

/// The result of a settlement the rail could obtain.
public struct Settlement: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case settled
        /// Submitted but not final: must not be answered with a new 402.
        case pending
        case failed
    }

    public var status: Status
    public var transaction: String
    public var network: String
    public var payer: String?
    public var errorReason: String?
    public var errorMessage: String?

    public init(status: Status, transaction: String, network: String, payer: String?, errorReason: String? = nil, errorMessage: String? = nil) {
        self.status = status
        self.transaction = transaction
        self.network = network
        self.payer = payer
        self.errorReason = errorReason
        self.errorMessage = errorMessage
    }
}

/// The rail could not reach a verdict: the authority was unreachable, slow or answered nonsense.
/// Always a 503 for the client, never a 402 and never free access.
public struct RailFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        /// No connection could be made: the request was not sent.
        public static let unreachable = Code("unreachable")
        /// The connection failed after the request may have been sent.
        public static let connectionLost = Code("connection_lost")
        public static let timeout = Code("timeout")
        public static let badStatus = Code("bad_status")
        public static let undecodable = Code("undecodable_response")
        public static let notReady = Code("not_ready")
    }

    public let code: Code
    public let message: String
    /// The facilitator that failed (its base URL), for the audit trail.
    public let authority: String

    public init(_ code: Code, _ message: String, authority: String) {
        self.code = code
        self.message = message
        self.authority = authority
    }

    public var description: String { "\(code) (\(authority)): \(message)" }

    /// Whether the request may have reached the authority (and so may have had its effect).
    public var reachedAuthority: Bool { code != .unreachable && code != .notReady }
}
