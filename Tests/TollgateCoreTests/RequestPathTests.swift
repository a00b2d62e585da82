import Testing
import TollgateCore

/// One spelling of a path for routing and for the upstream; spellings servers disagree on are refused.
@Suite struct RequestPathTests {
    @Test(arguments: [
        ("/%72eports/x", "/reports/x"), ("/reports/%7Ex", "/reports/~x"), ("/a/%2d%2E%5f", "/a/-._"), ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a%3fb", "/a%3Fb"), ("/a%20b", "/a%20b"), ("/", "/"), ("/a//b", "/a//b"),
        ("/.well-known/x", "/.well-known/x"), ("/a/...", "/a/..."), ("/%41%42", "/AB"),
    ])
    func unreservedEscapesAreDecodedAndTheRestUppercased(path: String, normalised: String) {
        #expect(RequestPath.normalize(path) == .success(normalised))
    }

    @Test(arguments: [
        "/a/../b", "/a/./b", "/a/..", "/a/%2e%2e/b", "/a/%2E%2e", "/a/.%2e/b", "/a/%2e/b", "/a%2fb", "/a%2Fb", "/a%5cb", "/a\\b",
        "/a%00b", "/a%0ab", "/a%7f", "/a%c0%af", "/a%c0%ae%c0%ae/b", "/a%ff", "/a%252e%252e/b", "/a%252fb", "/a%25%32%66", "/a%2", "/a%zz",
        "a/b", "",
        // A fragment, and dot segments with path parameters (Tomcat and Spring read `..;x` as `..`).
        "/a#b", "/a/b#", "/a/..;/b", "/a/..;x/b", "/a/.;x", "/a/%2e%2e;/b",
    ])
    func spellingsServersResolveDifferentlyAreRefused(path: String) {
        guard case .failure = RequestPath.normalize(path) else {
            Issue.record("\(path) was accepted")
            return
        }
    }

    /// More than 30 combining marks in a row (Unicode's stream-safe limit), raw or escaped, or extenders that decompose
    /// into marks: comparing such a segment costs the square of its length, so it is refused before any route is.
    @Test func runsOfCombiningMarksPastTheStreamSafeLimitAreRefused() {
        let thirty = String(repeating: "\u{301}\u{316}", count: 15)
        #expect(RequestPath.normalize("/x" + thirty) == .success("/x" + thirty))
        for path in ["/x" + thirty + "\u{301}", "/x" + String(repeating: "%CC%81%CC%96", count: 16), "/x" + String(repeating: "\u{F73}", count: 31)] {
            guard case .failure(let refusal) = RequestPath.normalize(path) else {
                Issue.record("\(path.unicodeScalars.count) scalars of marks were accepted")
                continue
            }
            #expect(refusal.detail.contains("combining marks"))
        }
        // Marks apart: letters in between start new runs.
        guard case .success = RequestPath.normalize("/" + String(repeating: "e\u{301}", count: 100)) else {
            Issue.record("a hundred accented letters were refused")
            return
        }
    }

    /// Path parameters elsewhere are kept as sent: a segment that merely holds `..` or `;` is no dot segment.
    @Test func pathParametersAreKept() {
        for path in ["/a;v=1/b", "/a/b;..", "/a/...;x", "/;x/b", "/a;b;c"] {
            #expect(RequestPath.normalize(path) == .success(path), "\(path)")
        }
    }

    @Test func aLoneEscapedPercentIsKeptEscaped() {
        #expect(RequestPath.normalize("/100%25") == .success("/100%25"))
    }

    @Test func normalisingTwiceChangesNothing() throws {
        for path in ["/%72eports/x", "/caf%c3%a9", "/a%3fb", "/100%25"] {
            let once = try RequestPath.normalize(path).get()
            #expect(RequestPath.normalize(once) == .success(once))
        }
    }
}
