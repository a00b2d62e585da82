// Fuzz target: the bearer JWT reader (`JWTIdentity.handles` and `identify`, through jwt-kit). Keys: an ES256
// public key loaded the way `jwt: {pem_file: …}` is (`JWTIdentity.keys(jwks:pem:)`), the default for tokens
// without `kid`; an RS256 key (`kid: rs`); and an HS256 key (`kid: hs`) this target signs with.
//
// The first input byte chooses what the rest is:
//   even: the token as sent (`Authorization: Bearer <token>`);
//   odd:  the claims (JSON text) of an HS256 token this target signs, so mutations reach the claim checks
//         (issuer, audience, expiry, not-before, scopes) behind the signature check.
// Invariants: `handles` is true exactly when the token has two dots; a token that is identified is one
// `handles` accepts, and its client id is in the JWT namespace (`jwt:<sub>@<issuer>`); identifying never
// crashes, hangs or leaks.
//
// (The keys are not loaded from a JWKS document: jwt-kit keeps JWKS keys as the second case of a two-case
// enum of class references, whose tag lives in the pointer's spare bits, so LeakSanitizer does not see
// the reference and reports them as leaked, a false positive that would fail every run.)
import CLibFuzzer
import Crypto
import Dispatch
import Foundation
import JWTKit
import TollgateCore
import TollgateHTTP

let issuer = "https://auth.test"
let audience = "tollgate"
let hmacSecret = Array("tollgate-fuzz-hs256-secret-do-not-use".utf8)
let es256PublicKey = """
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETIjneDoGXPSawaaVw/FH6skp8Mda
AyQiDgDojIzXllbW3z1LVLYvvh85hoTOeL0VUxPr9UkqnePM5c5j8nUYUQ==
-----END PUBLIC KEY-----
"""
let rs256PublicKey = """
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtdRSYi+zosBtnt3x6Mm9
ScPmeLSDLcFdegfrrM4sLbqZIO0oxYmAOh1jsV68rOjnVlErNQqhP1gU3oeaHT3U
HfNg1N8OpIWsA5WZ4iKdNbMeOJC4LTa8d1aNt8jTEkrb6KZcpahZfGnfi8Wny+Zj
iVupjWZyl6Dfi26MZOo7VDahvNIVm+Bf8p9PyYL9dbfhMrJtag5WsxhcakR8gwKj
A+TJ6w4oR6q3iO3SAxeAB7h/bTHEiy0ooSmaS8vnA/8HZbCMluqZfoCsnFcpuaaJ
FfmJMrKLetjqF2U1fB/Lai9dp1Wx/4o9tMb4mckL+VuDmdWiktUB1PszDZCv/Yh9
wwIDAQAB
-----END PUBLIC KEY-----
"""

/// Runs `body` on the cooperative pool and blocks this thread until it returns (set-up only).
func blocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let worker = Worker<Value>()
    Task {
        worker.result = await body()
        worker.done.signal()
    }
    worker.done.wait()
    return worker.result!
}

/// One long-lived task that identifies the tokens handed to it, one at a time, for libFuzzer's
/// synchronous callback. A task per input would be freed on another thread after the callback returned:
/// libFuzzer would see more allocations than frees after every input and run a full leak check each time
/// (twenty times slower). With one task, everything an input allocates is freed before its answer.
final class Worker<Value: Sendable>: @unchecked Sendable {
    let request = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    var token: String?
    var result: Value?
}

let identifier: Worker<ClientDirectory.Outcome> = {
    let worker = Worker<ClientDirectory.Outcome>()
    Task.detached {
        while true {
            worker.request.wait()
            let token = worker.token.take()!
            worker.result = await identity.identify(Substring(token))
            worker.done.signal()
        }
    }
    return worker
}()

func identify(_ token: String) -> ClientDirectory.Outcome {
    identifier.token = token
    identifier.request.signal()
    identifier.done.wait()
    return identifier.result.take()!
}

let identity: JWTIdentity = blocking {
    do {
        let keys = try await JWTIdentity.keys(jwks: nil, pem: es256PublicKey)
        await keys.add(rsa: try Insecure.RSA.PublicKey(pem: rs256PublicKey), digestAlgorithm: .sha256, kid: "rs")
        await keys.add(hmac: HMACKey(from: hmacSecret), digestAlgorithm: .sha256, kid: "hs")
        return JWTIdentity(keys: keys, issuer: issuer, audience: audience)
    } catch {
        fatalError("the fuzz target's own keys do not load: \(error)")
    }
}

func base64url(_ bytes: some Sequence<UInt8>) -> String {
    var text = Data(bytes).base64EncodedString()
    text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    while text.hasSuffix("=") { text.removeLast() }
    return text
}

/// An HS256 JWT with `claims` as its payload, signed with the `hs` key.
func signed(claims: [UInt8]) -> String {
    let input = base64url(#"{"alg":"HS256","typ":"JWT","kid":"hs"}"#.utf8) + "." + base64url(claims)
    let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: hmacSecret))
    return input + "." + base64url(Array(mac))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let mode = input.first else { return 0 }
    let body = Array(input.dropFirst())
    let token = mode % 2 == 0 ? String(decoding: body, as: UTF8.self) : signed(claims: body)
    let handled = identity.handles(Substring(token))
    precondition(handled == (token.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2), "handles disagrees with the dot count")
    let outcome = identify(token)
    if case .identified(let who) = outcome {
        precondition(handled, "a token handles() refuses was identified")
        let id = Array(who.clientId.utf8)
        precondition(id.starts(with: ClientRecord.jwtPrefix.utf8) && id.reversed().starts(with: ("@" + issuer).utf8.reversed()),
                     "a JWT subject identified outside the jwt:<sub>@<issuer> namespace: \(who.clientId.debugDescription)")
    }
    return 0
}

/// libFuzzer's driver as this executable's entry point. SwiftPM links `main` to `<module>_main` (so tests
/// could import executables); this is that symbol, doing what libFuzzer's own `main` does.
@_cdecl("FuzzJWT_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else {
            var empty: UInt8 = 0
            return fuzz(&empty, 0)
        }
        return fuzz(data, size)
    }
}
