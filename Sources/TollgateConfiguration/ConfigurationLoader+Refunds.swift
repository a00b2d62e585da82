import Foundation
import TollgateX402
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

extension ConfigurationLoader {
    /// `settlement`: `{reconcile_interval_seconds: 30, rpc: {"eip155:<id>": URL}, rpc_max_log_range: 2000,
    /// verify_with_claim: true}`: how often settlements in doubt are resolved, the EVM nodes read to tell a spent
    /// authorization from a cancelled one and the blocks one `eth_getLogs` asks them for, and whether `/verify` is sent
    /// while the claim is committed.
    static func readSettlement(_ node: Node?, _ r: inout YAMLReader) -> GatewayConfiguration.Settlement {
        guard let node, let fields = r.mapping(node, "settlement", known: ["reconcile_interval_seconds", "rpc", "rpc_max_log_range", "verify_with_claim"])
        else { return .init() }
        var settlement = GatewayConfiguration.Settlement()
        settlement.reconcileIntervalSeconds = r.int(fields["reconcile_interval_seconds"], "settlement.reconcile_interval_seconds", range: 1...86_400) ?? 30
        settlement.rpcMaxLogRange = r.int(fields["rpc_max_log_range"], "settlement.rpc_max_log_range", range: 1...1_000_000)
            ?? Int(EVMChainReader.defaultMaxLogRange)
        settlement.verifiesWithClaim = r.bool(fields["verify_with_claim"], "settlement.verify_with_claim") ?? true
        if let rpc = fields["rpc"] {
            guard let pairs = rpc.mapping else {
                r.fail(rpc, "settlement.rpc", "expected a mapping of networks (eip155:<chain id>) to RPC URLs")
                return settlement
            }
            for (key, value) in pairs {
                guard let network = key.string, ExactEVMVerifier.chainId(network) != nil, let url = value.string, isHTTPURL(url) else {
                    r.fail(key, "settlement.rpc", "expected eip155:<chain id>: http(s) URL")
                    continue
                }
                settlement.rpc[network] = url
            }
        }
        return settlement
    }
}
