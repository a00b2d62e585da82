import Foundation
import Yams

extension ConfigurationLoader {
    /// `refunds`: `{automatic: bool (default true), payout_contact: text}`, the policy for `settle: before`
    /// routes whose answer was then not delivered.
    static func readRefunds(_ node: Node?, _ r: inout YAMLReader) -> GatewayConfiguration.Refunds {
        guard let node, let fields = r.mapping(node, "refunds", known: ["automatic", "payout_contact"]) else { return .init() }
        let automatic = r.bool(fields["automatic"], "refunds.automatic") ?? true
        var contact = r.string(fields["payout_contact"], "refunds.payout_contact")?.trimmingCharacters(in: .whitespaces)
        if contact?.isEmpty ?? false {
            r.fail(fields["payout_contact"], "refunds.payout_contact", "name who pays out pending refunds (a team, a mailbox, a queue)")
            contact = nil
        }
        return .init(automatic: automatic, payoutContact: contact)
    }
}
