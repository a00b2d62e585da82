/// The stages of the journey, in the order a paid request meets them: the one list that `tollgate trace`,
/// `tollgate design` and docs/architecture.md read (a test keeps the docs in step). Each stage is a file of
/// the machine (`Journey+<Stage>.swift`) and the `stage` of the audit events it records.
public struct JourneyStage: Sendable, Hashable, Identifiable {
    /// The audit stage's name (`reserve`).
    public var id: String { audit.rawValue }
    public let audit: AuditEvent.Stage
    /// A few words for people (`single-use claim`).
    public let title: String
    /// What the stage decides, and what a stop there means.
    public let summary: String

    public static let all: [JourneyStage] = [
        JourneyStage(audit: .route, title: "route",
                     summary: "one spelling of the path (unsafe paths refused), then the route that serves it, letter case compared as the upstream does (a case that alone decides the route is refused when that is unknown); no route is a 404 or a pass-through"),
        JourneyStage(audit: .identify, title: "identify",
                     summary: "API key or token; unknown, invalid or revoked is a 401, never a 402"),
        JourneyStage(audit: .authorize, title: "authorize",
                     summary: "the route's and the action's scopes, before any price: a 403 never shows terms"),
        JourneyStage(audit: .admit, title: "admit",
                     summary: "rate limits per class (unpaid, paid, invalid proofs), before the body is read or a proof decoded"),
        JourneyStage(audit: .offer, title: "402 with terms",
                     summary: "a signed offer per way to pay, bound to the client, the request and its body, with price, unit and expiry"),
        JourneyStage(audit: .proof, title: "proof",
                     summary: "the rail decodes the proof its header names; undecodable or recently refused proofs are refused without more work"),
        JourneyStage(audit: .verify, title: "local checks",
                     summary: "the echoed offer, its client, request and terms, the signature, amount, payee and time window, the payer's standing"),
        JourneyStage(audit: .reserve, title: "single-use claim",
                     summary: "the proof and its offer are claimed before anything is forwarded; a retry of the same purchase resumes its claim; "
                        + "a new claim whose authorization closes within half the offer's `maxTimeoutSeconds` is released and refused"),
        JourneyStage(audit: .facilitatorVerify, title: "facilitator verification",
                     summary: "the rail's authority confirms the proof (by default, asked while the claim is written); a refusal or no answer gives the claim back"),
        JourneyStage(audit: .decide, title: "final decision",
                     summary: "incident switch and quantity before the offer; spend caps and quotas held before forwarding; private fields filtered"),
        JourneyStage(audit: .forward, title: "forward",
                     summary: "the request goes upstream with the signed contract; an answer that is not consumed is not charged"),
        JourneyStage(audit: .settle, title: "settle",
                     summary: "the intent (with the answer) is committed, then the payment is settled; an outcome in doubt is resolved, never guessed"),
        JourneyStage(audit: .meter, title: "meter",
                     summary: "the units consumed (or spent from a package balance) are recorded with the payment"),
        JourneyStage(audit: .respond, title: "respond",
                     summary: "the answer with its receipt, served only once the payment is recorded"),
    ]

    /// The stage that records events under `audit`.
    public static func named(_ audit: AuditEvent.Stage) -> JourneyStage? {
        all.first { $0.audit == audit }
    }
}
