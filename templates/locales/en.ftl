# Bridgekeeper's pages in English. Every other catalogue must have every message here (a test and
# `check-config` say which one is missing). Variables are written { $name }.

## Formats (filters localdate and localnumber)
format-datetime = %Y-%m-%d %H:%M UTC
format-group-separator = ,

## base.html
site-name = Bridgekeeper
dev-banner = Development mode: the dev sign-in lets anyone in. Not for production.

## home.html
home-intro = This is an identity broker. Apps send you here to sign in with an account you already have.
home-developers = Developers: the OpenID Provider configuration is at

## login.html
login-title = Sign in
login-heading = Sign in
login-heading-to = Sign in to { $client }
login-none = No sign-in method is available right now. Please contact the administrator.
login-continue-with = Continue with { $provider }
login-unavailable = (currently unavailable)

## dev_login.html
dev-title = Development sign-in
dev-intro = Type any name and email: you are signed in as that person. For demos and tests only.
field-name = Name
field-email = Email
button-continue = Continue
password-title = Sign in
field-username = Username
field-password = Password
button-sign-in = Sign in

## consent.html
consent-title = Allow access?
consent-heading = { $client } would like to
consent-act-for = { $client } may act for you at { $provider } (get your tokens there)
consent-signed-in-as = Signed in as { $who }. Not you?
button-sign-out = Sign out
button-allow = Allow
button-deny = Deny

## error.html
error-request-id = Request id:

## account.html
account-title = Your account
account-your-id = Your id for apps:
account-methods = Sign-in methods
account-unlink = Unlink
account-unlink-label = Unlink { $method }
account-link-another = Link another sign-in method
account-link = Link { $provider }
account-apps = Apps you allowed
account-no-apps = None.
account-revoke = Revoke access
account-revoke-label = Revoke access for { $app }
account-acts-for = may act for you at { $provider }
account-revoke-exchange = Stop

## link_confirm.html, link_offer.html
link-title = Link a sign-in method
link-question = Add { $method } as a way to sign in to your account?
link-only-if = Only do this if you just signed in with { $provider } yourself.
link-do-not = Do not link
offer-title = You already have an account
offer-exists = An account with the email address { $email } already exists here.
offer-exists-no-email = An account with the email address you used already exists here.
offer-how = To add this sign-in method to it, sign in the way you did before. You will be asked to confirm.
offer-sign-in = Sign in the way you did before

## logged_out.html, logout_confirm.html
logged-out-title = Signed out
logged-out-heading = You are signed out
logged-out-close = You can close this window.
logged-out-apps = You are also being signed out of the apps you used in this session.
logged-out-frame-title = Signing you out of an app
logged-out-continue = Continue
logout-title = Sign out?
logout-asked = An app asked to sign you out of this service.
logout-upstream-also = Also sign out of { $provider }

## developer.html
dev-portal-title = Developer portal
dev-apps = Your apps
dev-no-apps = You have not registered an app yet.
dev-disabled = (disabled)
dev-register = Register an app
dev-logo = Logo URL (https, optional)
dev-redirect-uris = Redirect URIs (one per line)
dev-post-logout-uris-optional = Post-logout redirect URIs (one per line, optional)
dev-post-logout-uris = Post-logout redirect URIs (one per line)
dev-type = Type
dev-confidential = Confidential (a server that keeps a secret)
dev-public = Public (native, mobile or single-page app; PKCE, no secret)
dev-secret-how = How a confidential app sends its secret
dev-basic = HTTP Basic (client_secret_basic)
dev-post = In the form body (client_secret_post)
dev-scopes = Scopes
dev-needs-approval = (needs an admin's approval)
dev-register-button = Register
dev-redirect-rules = Redirect URIs: https, or http on 127.0.0.1, [::1] or localhost while you develop; no fragments or wildcards; custom schemes (com.example.app:/cb) only for public apps.

## developer_app.html
app-client-id = Client id
app-type = Type
app-type-confidential = confidential
app-type-public = public
app-auth = Authentication at the token endpoint
app-scopes = Scopes
app-pending = Waiting for approval
app-status = Status
app-disabled = disabled
app-active = active
app-previous-secret = Previous secret
app-works-until = works until { $time }
app-discovery = Discovery
app-sign-ins = Sign-ins
app-count-day = Last 24 hours:
app-count-week = last 7 days:
app-count-month = last 30 days:
app-settings = Settings
button-save = Save
app-actions = Actions
app-rotate = Rotate secret
app-enable = Enable
app-disable = Disable
app-delete = Delete
app-grace = After a rotation the previous secret keeps working for { $secs } seconds.

## developer_secret.html
secret-title = Your app's credentials
secret-client-secret = Client secret
secret-copy-now = Copy the secret now: it is shown only this once.
secret-grace = The previous secret keeps working until { $time }.
secret-public = A public app has no secret: use PKCE (S256).
secret-pending = Scopes waiting for an admin's approval: { $scopes }.
secret-continue = Continue to the app

## Error pages ([LC-3]: PageError::keyed(KEY) shows KEY-title and KEY-message)
page-db-down-title = Temporarily unavailable
page-db-down-message = The service cannot reach its database right now. Please try again in a moment.
page-broken-title = Something went wrong
page-broken-message = This page could not be shown.
page-unknown-method-title = Unknown sign-in method
page-unknown-method-message = There is no such sign-in method here.
page-method-removed-title = Sign-in method removed
page-method-removed-message = This sign-in method was removed while you were signing in. Nothing was changed. Please start again and choose another one.
page-method-changed-title = Sign-in method changed
page-method-changed-message = This sign-in method was changed while you were signing in. Nothing was changed. Please start again.
page-sign-in-first-title = Sign in first
page-sign-in-first-message = Sign in before linking another account.
page-sign-in-again-title = Sign in again
page-sign-in-again-message = For your safety, sign in again (from the sign-in page) before linking another account, then come back to your account page.
page-upstream-down-title = Sign-in provider unavailable
page-upstream-down-message = The sign-in provider did not answer properly. Please try again later or choose another one.
page-upstream-rejected-title = Sign-in failed
page-upstream-rejected-message = The answer from the sign-in provider could not be verified. Nothing was changed. Please start again.
page-upstream-cancelled-title = Sign-in cancelled
page-upstream-cancelled-message = The sign-in was cancelled at the provider.
page-too-many-title = Too many attempts
page-too-many-message = Please wait a moment and try again.
page-forged-title = Sign-in failed
page-forged-message = This sign-in answer is unknown, expired, already used or from another browser. Nothing was changed. Please start again.
page-no-form-title = Not available
page-no-form-message = This sign-in method takes no form.
page-form-expired-title = Form expired
page-form-expired-message = Please go back and try again.
page-wrong-password-title = Sign-in failed
page-wrong-password-message = Wrong username or password. Please go back and try again.
page-sign-in-unavailable-title = Sign-in unavailable
page-sign-in-unavailable-message = This sign-in method cannot check passwords right now. Please try again later or choose another one.
page-sign-in-busy-title = Sign-in busy
page-sign-in-busy-message = Too many sign-ins are in progress right now. Please try again in a moment.
page-invalid-email-title = Invalid email
page-invalid-email-message = Please type an email address.
page-email-taken-title = You already have an account
page-email-taken-message = An account with this email address already exists. Sign in with the provider you used before, then link this one from your account page.
page-linked-elsewhere-title = Account already linked
page-linked-elsewhere-message = This sign-in is already linked to another account here.
page-disabled-title = Account disabled
page-disabled-message = This account is disabled.
page-not-a-form-title = Invalid request
page-not-a-form-message = The authorization request must be a form post (application/x-www-form-urlencoded).
page-repeated-client-title = Invalid request
page-repeated-client-message = The request repeats client_id or redirect_uri.
page-missing-client-title = Invalid request
page-missing-client-message = The request does not say which app is asking (client_id is missing).
page-unknown-client-title = Unknown application
page-unknown-client-message = The app that sent you here is not registered with this service.
page-unregistered-redirect-title = Invalid redirect address
page-unregistered-redirect-message = The app asked to send you back to an address it has not registered. Nothing was sent.
page-missing-redirect-title = Invalid request
page-missing-redirect-message = The request has no redirect_uri and the app registered several.
page-request-expired-title = Sign-in expired
page-request-expired-message = This sign-in request is unknown or has expired. Go back to the app and start again.
page-other-browser-title = Sign-in expired
page-other-browser-message = This sign-in request was started in another browser, or has expired. Go back to the app and start again.
page-sign-in-needed-title = Sign-in needed
page-sign-in-needed-message = Please sign in again.
page-consent-expired-title = Form expired
page-consent-expired-message = Please go back to the app and try again.
page-session-ended-title = Signed out
page-session-ended-message = Your session ended. Go back to the app and sign in again.
page-signed-out-title = Signed out
page-signed-out-message = Please sign in again.
page-only-method-title = Cannot unlink
page-only-method-message = You cannot remove your only sign-in method.
page-account-form-expired-title = Form expired
page-account-form-expired-message = Please go back to your account page and try again.
page-start-again-title = Sign-in failed
page-start-again-message = Please start again.
page-offer-expired-title = Nothing to link
page-offer-expired-message = This offer to link a sign-in method is unknown or has expired.
page-offer-answered-title = Nothing to link
page-offer-answered-message = This offer was already answered.
page-offer-unreadable-title = Nothing to link
page-offer-unreadable-message = This offer cannot be read. Please start again.
page-not-developer-title = Not a developer
page-not-developer-message = Your account may not register apps here. Ask an admin.
page-not-your-app-title = No such app
page-not-your-app-message = This app does not exist or is not yours.
page-no-app-title = No such app
page-no-app-message = This app does not exist.
page-too-many-apps-title = Too many apps
page-too-many-apps-message = Delete an app before registering another.

## Standard scopes on the consent page (other languages; English shows the [scopes] text of the configuration)
scope-openid = Sign you in with your account
scope-profile = Your name, username and picture
scope-email = Your email address
scope-offline_access = Stay signed in when you are away
scope-groups = The groups you belong to

# Form Post Response Mode (the page that carries the answer back to the app) and pushed requests
form-post-title = Returning to the app
form-post-heading = Returning to the app…
form-post-explain = If nothing happens, press the button to continue.
form-post-continue = Continue
page-invalid-request-uri-title = Sign-in request unknown
page-invalid-request-uri-message = This sign-in request is unknown, was already used or has expired. Go back to the app and start again.

# Sign-out pages (/logout, the return from an upstream sign-out)
page-logout-repeated-title = Cannot sign you out automatically
page-logout-repeated-message = The logout request repeats a parameter.
page-logout-foreign-hint-title = Cannot sign you out automatically
page-logout-foreign-hint-message = The app sent a sign-in token that this service did not issue.
page-logout-mismatch-title = Cannot sign you out automatically
page-logout-mismatch-message = The app and the sign-in token do not belong together.
page-logout-no-client-title = Cannot sign you out automatically
page-logout-no-client-message = The request names a return address but not the app it belongs to.
page-logout-unregistered-title = Cannot sign you out automatically
page-logout-unregistered-message = The app asked to send you to an address it has not registered.
page-logout-form-expired-title = Form expired
page-logout-form-expired-message = Please try signing out again.
page-logout-link-expired-title = Signed out
page-logout-link-expired-message = This sign-out link is no longer valid; you are signed out of this service.
device-title = Connect a device
device-heading = Connect a device
device-intro = Enter the code your device shows.
device-field = Code from your device
device-wrong = That code is not valid. Check the code your device shows and try again.
device-consent-heading = { $client } on your device would like to
device-consent-code = Your device shows this code:
device-consent-warning = Allow only if you started this on your own device just now and it shows the same code.
device-done-allowed = { $client } is connected
device-done-allowed-text = You can go back to your device now.
device-done-denied = { $client } was not connected
device-done-denied-text = Nothing was shared. You can close this page.
page-device-off-title = Not found
page-device-off-message = There is no such page here.
page-device-too-many-title = Too many wrong codes
page-device-too-many-message = Too many wrong codes were entered. Wait a while, then try again with the code your device shows.
page-device-gone-title = Code not valid
page-device-gone-message = This code is not valid any more: it was used or has expired. Start again on your device.
