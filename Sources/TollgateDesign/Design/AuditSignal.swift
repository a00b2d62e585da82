/// One audit event a step can write, as `tollgate trace` shows it: stage, outcome and reason code.
public struct AuditSignal: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The audit stage (`admit`, `facilitator_verify`, …).
    public var stage: String
    /// `ok`, `denied`, `error`, `issued` or `received`.
    public var outcome: String
    /// The reason code, when the event has one.
    public var reason: String?
    /// For reasons that are not fixed codes (a facilitator's own `invalidReason`), what fills them.
    public var note: String?

    public init(_ stage: String, _ outcome: String, _ reason: String? = nil, note: String? = nil) {
        self.stage = stage
        self.outcome = outcome
        self.reason = reason
        self.note = note
    }

    /// `stage outcome reason`, e.g. `admit denied rate_limited_paid`.
    public var description: String {
        [stage, outcome, reason ?? note.map { "<\($0)>" }].compactMap { $0 }.joined(separator: " ")
    }
}
