import Foundation
import Logging
import Synchronization
import Testing
import TollgateCore
@testable import TollgateX402

/// Smart-wallet payers: an ERC-6492 signature cannot be checked without the chain, so it passes the local checks
/// and the facilitator decides; a 65-byte signature that does not recover is refused here, whatever its shape.
@Suite struct SmartWalletSignatureTests {
    let logger = Logger(label: "test")
    let base = ExactEVMRailTests()

    /// `abi.encode(factory, calldata, signature)`-shaped bytes followed by the ERC-6492 magic suffix.
    static let erc6492: String = {
        var bytes = [UInt8](repeating: 0, count: 12) + [UInt8](repeating: 0x11, count: 20)   // factory
        bytes += [UInt8](repeating: 0, count: 31) + [0x60]                                     // offset of calldata
        bytes += [UInt8](repeating: 0, count: 31) + [0xA0]                                     // offset of the signature
        bytes += [UInt8](repeating: 0, count: 31) + [0x04] + [0xde, 0xad, 0xbe, 0xef] + [UInt8](repeating: 0, count: 28)
        bytes += [UInt8](repeating: 0, count: 31) + [0x41] + [UInt8](repeating: 0x22, count: 65) + [UInt8](repeating: 0, count: 31)
        return HexString.prefixed(bytes + ExactEVMVerifier.erc6492Magic)
    }()

    func rail(_ facilitator: ScriptedFacilitator) async -> ExactEVMRail {
        let pool = FacilitatorPool([.init(facilitator: facilitator, networks: ["eip155:84532"])])
        await pool.refresh(logger: logger)
        return ExactEVMRail(assets: [ExactEVMRailTests.asset], facilitators: pool)
    }

    @Test func anERC6492SignaturePassesLocallyAndTheFacilitatorDecides() async throws {
        #expect(ExactEVMVerifier.signatureKind(Self.erc6492) == .erc6492)
        for accepts in [true, false] {
            let facilitator = ScriptedFacilitator(name: "f", verify: {
                accepts ? .init(isValid: true, payer: nil) : .init(isValid: false, invalidReason: "invalid_exact_evm_payload_signature", payer: nil)
            })
            let rail = await rail(facilitator)
            let now = Int64(Date().timeIntervalSince1970)
            let offer = base.signedOffer(now: now)
            var proof = try base.paidProof(rail, offer: offer, now: now)
            proof.signature = Self.erc6492

            // Everything held but the signature, which only the facilitator checks: deferred, not valid.
            guard case .signatureDeferred = rail.verifyLocally(proof, offer: offer.offer, now: now) else {
                Issue.record("an ERC-6492 signature was refused before the facilitator")
                continue
            }
            let verdict = try await rail.verify(proof, offer: offer, logger: logger)
            if accepts {
                #expect(verdict == .valid(payer: proof.payer))
            } else {
                #expect(verdict == .invalid(.signatureInvalid, detail: "refused by the facilitator"))
            }
            #expect(facilitator.calls.withLock { $0 } == 1)
        }
    }

    @Test func the6492WrapperDoesNotExcuseTheOtherChecks() async throws {
        let rail = await rail(ScriptedFacilitator(name: "f"))
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        var proof = try base.paidProof(rail, offer: offer, now: now)
        proof.signature = Self.erc6492
        var cheaper = offer.offer
        cheaper.amount = TokenAmount(atomic: "1")!
        #expect(rail.verifyLocally(proof, offer: cheaper, now: now) != .valid(payer: proof.payer))
    }

    @Test func aSixtyFiveByteSignatureThatDoesNotRecoverIsRefusedLocally() async throws {
        let rail = await rail(ScriptedFacilitator(name: "f"))
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        var proof = try base.paidProof(rail, offer: offer, now: now)
        proof.signature = HexString.prefixed([UInt8](repeating: 0x33, count: 64) + [27])
        #expect(rail.verifyLocally(proof, offer: offer.offer, now: now) == .invalid(.signatureInvalid, detail: "the signature does not recover to authorization.from"))
    }

    @Test func aContractWalletSignatureIsRefusedWhereTheChainCannotBeRead() async throws {
        let rail = await rail(ScriptedFacilitator(name: "f"))
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        var proof = try base.paidProof(rail, offer: offer, now: now)
        proof.signature = HexString.prefixed([UInt8](repeating: 0x44, count: 96))
        guard case .invalid = rail.verifyLocally(proof, offer: offer.offer, now: now) else {
            Issue.record("a contract-wallet signature passed without an RPC to check the wallet")
            return
        }
    }

    @Test func theDevelopmentFacilitatorNeverTakesAnUncheckedSignature() {
        let authorization = X402.Authorization(from: "0x1111111111111111111111111111111111111111", to: ExactEVMRailTests.payTo, value: "10000",
                                               validAfter: "0", validBefore: "4000000000", nonce: "0x" + String(repeating: "ab", count: 32))
        let expected = ExactEVMVerifier.Expected(network: "eip155:84532", payTo: ExactEVMRailTests.payTo, amount: TokenAmount(atomic: "10000")!,
                                                 domain: EIP712Domain(name: "USDC", version: "2", chainId: 84532,
                                                                      verifyingContract: EthereumAddress(ExactEVMRailTests.asset.address)!))
        let verdict = ExactEVMVerifier.verify(scheme: "exact", network: "eip155:84532", authorization: authorization, signature: Self.erc6492,
                                              expected: expected, now: 1_800_000_000)
        #expect(verdict == .invalid(.signatureInvalid, detail: "a smart-wallet signature cannot be verified here"))
    }
}
