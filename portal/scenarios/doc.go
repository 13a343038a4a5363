// Package scenarios holds the portal's browser scenarios: the real gatehouse binary, started by
// internal/browsertest on its own redis-server, driven in headless Chromium the way people use
// it. It has no code of its own; its tests are the flows of each area (asking, approving, holding
// and giving up access) and the scenarios that cross them (signing in through the demo identity provider and through an OpenID Connect provider,
// cross-site form posts, pages that are not the viewer's, signing out, a person the IdP
// deactivates), each checked with axe-core and saved as screenshots at laptop and phone width
// (browsertest.ScreenshotDir: .artifacts/screenshots).
package scenarios
