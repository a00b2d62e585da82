import Testing
import TollgateCore
import TollgateX402

/// The one list of networks and the one rule for which facilitators serve a network.
@Suite struct KnownNetworkTests {
    @Test func oneListOfTestAndMainNets() {
        let ids = (KnownNetwork.mainNets + KnownNetwork.testNets).map(\.id)
        #expect(Set(ids).count == ids.count, "a network is listed twice")
        #expect(KnownNetwork.mainNets.allSatisfy { $0.isMainNet && !KnownNetwork.isTestNetwork($0.id) })
        #expect(KnownNetwork.testNets.allSatisfy { !$0.isMainNet && KnownNetwork.isTestNetwork($0.id) })
        // Every id is eip155:<chain id>, spelt canonically.
        #expect((KnownNetwork.mainNets + KnownNetwork.testNets).allSatisfy { $0.chainId.map { "eip155:\($0)" } == $0.id })
        #expect(Set(KnownNetwork.testNets.compactMap(\.chainId)) == [84532, 11155111, 17000, 80002, 421614, 11155420, 43113, 97, 31337, 1337])
        for network in ["eip155:8453", "eip155:1", "eip155:084532", "eip155:+84532", "solana:mainnet", "eip155:999999", ""] {
            #expect(!KnownNetwork.isTestNetwork(network), "\(network)")
        }
        #expect(KnownNetwork.named("eip155:84532") == .baseSepolia && KnownNetwork.named("eip155:8453") == .base)
        #expect(KnownNetwork.label("eip155:8453") == "eip155:8453 (Base)" && KnownNetwork.label("eip155:5") == "eip155:5")
    }

    @Test func everyKnownAssetIsOnAKnownNetwork() {
        for asset in KnownAsset.all {
            #expect(KnownNetwork.named(asset.network) != nil, "\(asset.network)")
            #expect(EthereumAddress(asset.address) != nil, "\(asset.address)")
        }
        #expect(KnownAsset.usdc(on: .baseSepolia)?.address == "0x036CbD53842c5426634e7929541eC2318f3dCF7e")
        #expect(KnownAsset.usdc(on: .baseSepolia)?.eip712Name == "USDC" && KnownAsset.usdc(on: .base)?.eip712Name == "USD Coin")
    }

    @Test func whichFacilitatorsServeANetwork() {
        #expect(FacilitatorNetworks.serves(configured: [String](), network: "eip155:8453"))
        #expect(FacilitatorNetworks.serves(configured: ["eip155:84532"], network: "eip155:84532"))
        #expect(!FacilitatorNetworks.serves(configured: ["eip155:84532"], network: "eip155:8453"))

        let offered: Set<String> = ["eip155:84532", "eip155:8453"]
        #expect(FacilitatorNetworks.served(configured: Set<String>(), offered: offered) == offered)
        #expect(FacilitatorNetworks.served(configured: ["eip155:8453", "eip155:137"], offered: offered) == ["eip155:8453"])
        #expect(FacilitatorNetworks.served(configured: ["eip155:137"], offered: offered).isEmpty)

        let configured = [["eip155:84532"], [], ["eip155:8453", "eip155:84532"], ["eip155:137"]]
        #expect(FacilitatorNetworks.serving("eip155:84532", among: configured, configured: { $0 }).map { $0.index } == [0, 1, 2])
        #expect(FacilitatorNetworks.serving("eip155:8453", among: configured, configured: { $0 }).map { $0.index } == [1, 2])
        #expect(FacilitatorNetworks.serving("eip155:10", among: configured, configured: { $0 }).map { $0.index } == [1])
        #expect(FacilitatorNetworks.serving("eip155:10", among: [["eip155:1"]], configured: { $0 }).isEmpty)
    }
}
