import Testing
import TollgateConfiguration
import TollgateCore
import TollgateDesign

/// The loader, the timing budget, the lint and the design report agree on which facilitators serve a network.
@Suite struct FacilitatorServingTests {
    static let baseUSDC = #"{id: usdc-main, network: "eip155:8453", address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", decimals: 6, eip712_name: USD Coin, eip712_version: "2"}"#
    static let route = #"{method: GET, path: /reports/*, resource: reports, price: "0.01", unit: request, consumed: on_success, scope: reports:read, accepts: [usdc, usdc-main]}"#
    static let testNet = #"{url: "https://a.example", timeout_seconds: 3, networks: ["eip155:84532"]}"#
    static let any = #"{url: "https://b.example", timeout_seconds: 5}"#
    static let mainNet = #"{url: "https://c.example", timeout_seconds: 7, networks: ["eip155:8453"]}"#

    @Test func everyReaderOfTheConfigurationAgrees() throws {
        let text = ConfigurationLintTests.yaml(routes: [Self.route], assets: [ConfigurationLintTests.baseSepoliaUSDC, Self.baseUSDC],
                                               facilitators: [Self.testNet, Self.any, Self.mainNet])
        let configuration = try ConfigurationLoader.parse(text).0
        #expect(configuration.facilitators.serving("eip155:84532").map { $0.index } == [0, 1])
        #expect(configuration.facilitators.serving("eip155:8453").map { $0.index } == [1, 2])
        #expect(configuration.facilitators.serving("eip155:137").map { $0.index } == [1])

        let report = DesignReport(configuration: configuration, source: "serving.yaml")
        let byNetwork = Dictionary(uniqueKeysWithValues: report.networks.map { ($0.network, $0.facilitators.map(\.url)) })
        #expect(byNetwork == ["eip155:84532": ["https://a.example", "https://b.example"], "eip155:8453": ["https://b.example", "https://c.example"]])
        #expect(report.networks.first { $0.network == "eip155:84532" }?.testnet == true)
        #expect(report.networks.first { $0.network == "eip155:8453" }?.testnet == false)

        // Failover tries every facilitator serving the slowest network in turn: 5 + 7 seconds.
        let route = try #require(configuration.routes.first { $0.pricing != nil })
        #expect(TimingBudget(route, pricing: try #require(route.pricing), configuration: configuration).verifySeconds == 12)
    }

    @Test func theLoaderRefusesANetworkNoFacilitatorServes() throws {
        let text = ConfigurationLintTests.yaml(routes: [Self.route], assets: [ConfigurationLintTests.baseSepoliaUSDC, Self.baseUSDC],
                                               facilitators: [Self.testNet])
        let refused = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(text) }
        let messages = refused?.issues.map(\.message) ?? []
        #expect(messages.contains("no facilitator is configured for eip155:8453 (route reports)"))
        #expect(!messages.contains { $0.contains("eip155:84532") })
        // A facilitator that lists no network serves it.
        let served = ConfigurationLintTests.yaml(routes: [Self.route], assets: [ConfigurationLintTests.baseSepoliaUSDC, Self.baseUSDC],
                                                 facilitators: [Self.testNet, Self.any])
        #expect(throws: Never.self) { try ConfigurationLoader.parse(served) }
    }
}
