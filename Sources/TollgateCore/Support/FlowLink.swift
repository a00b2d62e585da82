/// A link from one flow to another, as recorded in audit details: a refused payment continues in the
/// flow of its fresh offer (`next_correlation_id`, and `previous_correlation_id` back), and a replayed
/// proof names the flow that first used it (`first_correlation_id`).
public struct FlowLink: Sendable, Hashable, Codable {
    /// How the other flow relates to this one.
    public enum Relation: String, Sendable, Hashable, Codable, CaseIterable {
        /// This flow was refused; the client was offered a fresh 402 in the other flow.
        case continuedIn = "continued_in"
        /// This flow's offer was issued after a refusal in the other flow.
        case continues
        /// This flow presented a proof (or payment identifier) first used in the other flow.
        case firstUsedIn = "first_used_in"

        /// The audit detail that carries the link.
        public var detailKey: String {
            switch self {
            case .continuedIn: "next_correlation_id"
            case .continues: "previous_correlation_id"
            case .firstUsedIn: "first_correlation_id"
            }
        }

        /// For people: "continued in", "continues", "proof first used in".
        public var phrase: String {
            switch self {
            case .continuedIn: "continued in"
            case .continues: "continues"
            case .firstUsedIn: "proof first used in"
            }
        }
    }

    public var relation: Relation
    public var correlationId: String
    /// The event that records the link.
    public var seq: Int64

    public init(relation: Relation, correlationId: String, seq: Int64) {
        self.relation = relation
        self.correlationId = correlationId
        self.seq = seq
    }

    /// The links recorded in a flow's events, first occurrence of each target only, self-links and
    /// values that are not correlation ids ignored.
    public static func links(in events: [RecordedAuditEvent]) -> [FlowLink] {
        var seen: Set<String> = []
        var links: [FlowLink] = []
        for record in events {
            for relation in Relation.allCases {
                guard let target = record.event.details[relation.detailKey], target != record.event.correlationId,
                      TraceKey.isCorrelationId(target), seen.insert(target).inserted else { continue }
                links.append(FlowLink(relation: relation, correlationId: target, seq: record.seq))
            }
        }
        return links
    }

    /// "continued in tg_…".
    public var summary: String { "\(relation.phrase) \(correlationId)" }
}
