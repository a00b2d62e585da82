/// One step of the request flow as this configuration runs it, in pipeline order.
import TollgateCore

public struct FlowStep: Sendable, Hashable, Codable {
    /// Stable id (`admit_unpaid`, `facilitator_verify`, …).
    public var id: String
    public var title: String
    /// The stage of the journey it belongs to (`JourneyStage.id`: `reserve`, `decide`, …), so the design reads the
    /// machine's own list of stages.
    public var stage: String
    public var lane: FlowLane
    public var owner: StepOwner
    /// false when nothing in this configuration uses the step (no package, no `settle: before`…).
    public var active: Bool
    /// What the step checks, in general.
    public var checks: [String]
    /// What this configuration sets for it, with its numbers.
    public var configuration: [String]
    /// The answers it can give instead of going on (`429 rate_limited_paid`).
    public var refusals: [String]
    /// The audit events it writes, as emitted.
    public var audit: [AuditSignal]

    public init(id: String, title: String, lane: FlowLane, owner: StepOwner, active: Bool = true, checks: [String],
                configuration: [String] = [], refusals: [String] = [], audit: [AuditSignal] = []) {
        self.id = id
        self.title = title
        self.stage = FlowStep.stage(ofStep: id)
        self.lane = lane
        self.owner = owner
        self.active = active
        self.checks = checks
        self.configuration = configuration
        self.refusals = refusals
        self.audit = audit
    }
}

extension FlowStep {
    /// The journey stage of each step of the design (`JourneyStage.all` is the list; a test checks every stage is shown).
    static let stages: [String: AuditEvent.Stage] = [
        "intake": .route, "route": .route, "identify": .identify, "authorize": .authorize, "incident": .decide, "quantity": .decide,
        "package_balance": .meter, "admit_unpaid": .admit, "offer": .offer, "client_signs": .offer, "admit_invalid": .admit,
        "decode": .proof, "admit_paid": .admit, "offer_check": .verify, "local_verify": .verify, "payer_lists": .verify,
        "admit_payer": .admit, "reserve": .reserve, "facilitator_verify": .facilitatorVerify, "spend_caps": .decide,
        "settle_before": .settle, "forward": .forward, "consumption": .decide, "private_fields": .decide, "settle": .settle,
        "meter": .meter, "respond": .respond,
    ]

    static func stage(ofStep id: String) -> String {
        stages[id].flatMap(JourneyStage.named)?.id ?? "unknown"
    }

    /// `reserve (single-use claim)`.
    var stageLabel: String {
        JourneyStage.all.first { $0.id == stage }.map { "\($0.id) (\($0.title))" } ?? stage
    }
}
