import Foundation
import HTTPTypes
import Testing
@testable import TollgateConfiguration
import TollgateCore

/// The configuration keys of the payment-safety work: settlement resolution, the contract key, trusted proxies,
/// durable storage, redelivery, the audit head and reserved client ids.
@Suite struct SafetyConfigurationTests {
    static let base = """
        upstream: {url: "http://127.0.0.1:8403"}
        secrets: [{id: k1, env: TOLLGATE_SECRET}]
        facilitators: [{url: "http://127.0.0.1:8404", networks: [eip155:84532]}]
        assets: [{id: usdc, network: eip155:84532, address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        routes:
          - {method: POST, path: /render, resource: render, price: "0.01", anonymous: true, redeliver: true}
          - {path: /free, resource: free, anonymous: true}

        """

    @Test func everyKeyIsReadAndDefaultsAreSafe() throws {
        let (defaults, _) = try ConfigurationLoader.parse(Self.base)
        #expect(defaults.durableStorage)
        #expect(defaults.trustedProxies.isEmpty)
        #expect(defaults.contractSecrets.isEmpty)
        #expect(defaults.settlement.rpc.isEmpty)
        #expect(defaults.settlement.reconcileIntervalSeconds == 30)
        #expect(defaults.settlement.verifiesWithClaim)
        #expect(defaults.settlement.rpcMaxLogRange == 2_000)
        #expect(defaults.auditHeadFile == nil)
        #expect(defaults.routes.first?.redeliverable(.post) == true)

        let (configured, warnings) = try ConfigurationLoader.parse(Self.base + """
            settlement: {reconcile_interval_seconds: 5, rpc: {"eip155:84532": "https://sepolia.base.org"}, rpc_max_log_range: 500, verify_with_claim: false}
            contract_secrets: [{id: c1, env: TOLLGATE_CONTRACT_SECRET}]
            trusted_proxies: [10.0.0.0/8, "2001:db8::/32"]
            storage: {sync: normal}
            audit: {head_file: /var/lib/tollgate/audit-heads.jsonl, head_interval_seconds: 30}
            """)
        #expect(configured.settlement.reconcileIntervalSeconds == 5)
        #expect(configured.settlement.rpc == ["eip155:84532": "https://sepolia.base.org"])
        #expect(!configured.settlement.verifiesWithClaim)
        #expect(configured.settlement.rpcMaxLogRange == 500)
        #expect(configured.contractSecrets.map(\.id) == ["c1"])
        #expect(configured.trustedProxies.contains("10.1.2.3"))
        #expect(!configured.trustedProxies.contains("11.1.2.3"))
        #expect(!configured.durableStorage)
        #expect(warnings.contains { $0.path == "storage.sync" })
        #expect(configured.auditHeadFile == "/var/lib/tollgate/audit-heads.jsonl")
        #expect(configured.auditHeadIntervalSeconds == 30)
    }

    @Test(arguments: [
        ("trusted_proxies: [proxy.internal]", "trusted_proxies"),
        ("settlement: {rpc: {mainnet: \"https://x\"}}", "settlement.rpc"),
        ("storage: {sync: sometimes}", "storage.sync"),
        ("settlement: {verify_with_claim: sometimes}", "settlement.verify_with_claim"),
        ("settlement: {rpc_max_log_range: 0}", "settlement.rpc_max_log_range"),
        ("settlement: {rpc_max_log_range: 2000000}", "settlement.rpc_max_log_range"),
        ("settlement: {rpc_max_log_range: \"all\"}", "settlement.rpc_max_log_range"),
        ("clients: [{id: anonymous, api_key_sha256: \(String(repeating: "a", count: 64))}]", "clients[0].id"),
        ("clients: [{id: \"jwt:agent@https://issuer\", api_key_sha256: \(String(repeating: "a", count: 64))}]", "clients[0].id"),
    ])
    func mistakesAreReportedWithTheirKey(yaml: String, path: String) {
        do {
            _ = try ConfigurationLoader.parse(Self.base + yaml)
            Issue.record("\(yaml) was accepted")
        } catch {
            #expect(error.issues.contains { $0.path == path }, "\(error.issues)")
        }
    }

    @Test func redeliverOnlyAppliesToPaidRoutes() {
        let yaml = Self.base.replacingOccurrences(of: "{path: /free, resource: free, anonymous: true}", with: "{path: /free, resource: free, anonymous: true, redeliver: true}")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(yaml) }
    }
}
