# Bridgekeeper's pages in German (Deutsch). Must have every message of en.ftl.

## Formats (filters localdate and localnumber)
format-datetime = %d.%m.%Y, %H:%M UTC
format-group-separator = .

## base.html
site-name = Bridgekeeper
dev-banner = Entwicklungsmodus: Die Entwickler-Anmeldung lässt jeden herein. Nicht für den Produktivbetrieb.

## home.html
home-intro = Dies ist ein Identitäts-Broker. Apps schicken Sie hierher, damit Sie sich mit einem Konto anmelden, das Sie bereits haben.
home-developers = Für Entwickler: Die Konfiguration des OpenID Providers finden Sie unter

## login.html
login-title = Anmelden
login-heading = Anmelden
login-heading-to = Bei { $client } anmelden
login-none = Zurzeit ist keine Anmeldemethode verfügbar. Bitte wenden Sie sich an die Administration.
login-continue-with = Weiter mit { $provider }
login-unavailable = (zurzeit nicht erreichbar)

## dev_login.html
dev-title = Entwickler-Anmeldung
dev-intro = Geben Sie einen beliebigen Namen und eine E-Mail-Adresse ein: Sie werden als diese Person angemeldet. Nur für Demos und Tests.
field-name = Name
field-email = E-Mail
button-continue = Weiter
password-title = Anmelden
field-username = Benutzername
field-password = Passwort
button-sign-in = Anmelden

## consent.html
consent-title = Zugriff erlauben?
consent-heading = { $client } möchte
consent-act-for = { $client } darf bei { $provider } in Ihrem Namen handeln (Ihre Tokens dort abrufen)
consent-signed-in-as = Angemeldet als { $who }. Nicht Sie?
button-sign-out = Abmelden
button-allow = Erlauben
button-deny = Ablehnen

## error.html
error-request-id = Anfrage-ID:

## account.html
account-title = Ihr Konto
account-your-id = Ihre ID für Apps:
account-methods = Anmeldemethoden
account-unlink = Trennen
account-unlink-label = { $method } trennen
account-link-another = Weitere Anmeldemethode verknüpfen
account-link = { $provider } verknüpfen
account-apps = Apps, denen Sie Zugriff erlaubt haben
account-no-apps = Keine.
account-revoke = Zugriff entziehen
account-revoke-label = Zugriff für { $app } entziehen
account-acts-for = darf bei { $provider } in Ihrem Namen handeln
account-revoke-exchange = Beenden

## link_confirm.html, link_offer.html
link-title = Anmeldemethode verknüpfen
link-question = { $method } als Anmeldemethode zu Ihrem Konto hinzufügen?
link-only-if = Tun Sie das nur, wenn Sie sich gerade selbst mit { $provider } angemeldet haben.
link-do-not = Nicht verknüpfen
offer-title = Sie haben bereits ein Konto
offer-exists = Ein Konto mit der E-Mail-Adresse { $email } gibt es hier bereits.
offer-exists-no-email = Ein Konto mit der von Ihnen verwendeten E-Mail-Adresse gibt es hier bereits.
offer-how = Um diese Anmeldemethode hinzuzufügen, melden Sie sich so an wie beim letzten Mal. Sie werden um Bestätigung gebeten.
offer-sign-in = So anmelden wie beim letzten Mal

## logged_out.html, logout_confirm.html
logged-out-title = Abgemeldet
logged-out-heading = Sie sind abgemeldet
logged-out-close = Sie können dieses Fenster schließen.
logged-out-apps = Sie werden auch von den Apps abgemeldet, die Sie in dieser Sitzung verwendet haben.
logged-out-frame-title = Abmeldung bei einer App
logged-out-continue = Weiter
logout-title = Abmelden?
logout-asked = Eine App möchte Sie von diesem Dienst abmelden.
logout-upstream-also = Auch bei { $provider } abmelden

## developer.html
dev-portal-title = Entwicklerportal
dev-apps = Ihre Apps
dev-no-apps = Sie haben noch keine App registriert.
dev-disabled = (deaktiviert)
dev-register = App registrieren
dev-logo = Logo-URL (https, optional)
dev-redirect-uris = Weiterleitungs-URIs (eine pro Zeile)
dev-post-logout-uris-optional = Weiterleitungs-URIs nach der Abmeldung (eine pro Zeile, optional)
dev-post-logout-uris = Weiterleitungs-URIs nach der Abmeldung (eine pro Zeile)
dev-type = Art
dev-confidential = Vertraulich (ein Server, der ein Geheimnis bewahrt)
dev-public = Öffentlich (native, mobile oder Single-Page-App; PKCE, kein Geheimnis)
dev-secret-how = Wie eine vertrauliche App ihr Geheimnis sendet
dev-basic = HTTP Basic (client_secret_basic)
dev-post = Im Formular-Body (client_secret_post)
dev-scopes = Scopes
dev-needs-approval = (braucht die Freigabe der Administration)
dev-register-button = Registrieren
dev-redirect-rules = Weiterleitungs-URIs: https, oder http auf 127.0.0.1, [::1] oder localhost während der Entwicklung; keine Fragmente oder Platzhalter; eigene Schemata (com.example.app:/cb) nur für öffentliche Apps.

## developer_app.html
app-client-id = Client-ID
app-type = Art
app-type-confidential = vertraulich
app-type-public = öffentlich
app-auth = Authentifizierung am Token-Endpunkt
app-scopes = Scopes
app-pending = Warten auf Freigabe
app-status = Status
app-disabled = deaktiviert
app-active = aktiv
app-previous-secret = Vorheriges Geheimnis
app-works-until = gültig bis { $time }
app-discovery = Discovery
app-sign-ins = Anmeldungen
app-count-day = Letzte 24 Stunden:
app-count-week = letzte 7 Tage:
app-count-month = letzte 30 Tage:
app-settings = Einstellungen
button-save = Speichern
app-actions = Aktionen
app-rotate = Geheimnis erneuern
app-enable = Aktivieren
app-disable = Deaktivieren
app-delete = Löschen
app-grace = Nach einer Erneuerung bleibt das vorherige Geheimnis noch { $secs } Sekunden gültig.

## developer_secret.html
secret-title = Die Zugangsdaten Ihrer App
secret-client-secret = Client-Geheimnis
secret-copy-now = Kopieren Sie das Geheimnis jetzt: Es wird nur dieses eine Mal angezeigt.
secret-grace = Das vorherige Geheimnis bleibt bis { $time } gültig.
secret-public = Eine öffentliche App hat kein Geheimnis: Verwenden Sie PKCE (S256).
secret-pending = Scopes, die auf die Freigabe der Administration warten: { $scopes }.
secret-continue = Weiter zur App

## Error pages
page-db-down-title = Vorübergehend nicht verfügbar
page-db-down-message = Der Dienst erreicht seine Datenbank gerade nicht. Bitte versuchen Sie es in einem Moment noch einmal.
page-broken-title = Etwas ist schiefgelaufen
page-broken-message = Diese Seite konnte nicht angezeigt werden.
page-unknown-method-title = Unbekannte Anmeldemethode
page-unknown-method-message = Diese Anmeldemethode gibt es hier nicht.
page-method-removed-title = Anmeldemethode entfernt
page-method-removed-message = Diese Anmeldemethode wurde entfernt, während Sie sich angemeldet haben. Es wurde nichts geändert. Bitte beginnen Sie von vorn und wählen Sie eine andere.
page-method-changed-title = Anmeldemethode geändert
page-method-changed-message = Diese Anmeldemethode wurde geändert, während Sie sich angemeldet haben. Es wurde nichts geändert. Bitte beginnen Sie von vorn.
page-sign-in-first-title = Zuerst anmelden
page-sign-in-first-message = Melden Sie sich an, bevor Sie ein weiteres Konto verknüpfen.
page-sign-in-again-title = Erneut anmelden
page-sign-in-again-message = Melden Sie sich zu Ihrer Sicherheit erneut an (über die Anmeldeseite), bevor Sie ein weiteres Konto verknüpfen, und kehren Sie dann zu Ihrer Kontoseite zurück.
page-upstream-down-title = Anmeldedienst nicht erreichbar
page-upstream-down-message = Der Anmeldedienst hat nicht richtig geantwortet. Bitte versuchen Sie es später noch einmal oder wählen Sie einen anderen.
page-upstream-rejected-title = Anmeldung fehlgeschlagen
page-upstream-rejected-message = Die Antwort des Anmeldedienstes konnte nicht geprüft werden. Es wurde nichts geändert. Bitte beginnen Sie von vorn.
page-upstream-cancelled-title = Anmeldung abgebrochen
page-upstream-cancelled-message = Die Anmeldung wurde beim Anmeldedienst abgebrochen.
page-too-many-title = Zu viele Versuche
page-too-many-message = Bitte warten Sie einen Moment und versuchen Sie es dann noch einmal.
page-forged-title = Anmeldung fehlgeschlagen
page-forged-message = Diese Anmeldeantwort ist unbekannt, abgelaufen, bereits verwendet oder stammt aus einem anderen Browser. Es wurde nichts geändert. Bitte beginnen Sie von vorn.
page-no-form-title = Nicht verfügbar
page-no-form-message = Diese Anmeldemethode nimmt kein Formular entgegen.
page-form-expired-title = Formular abgelaufen
page-form-expired-message = Bitte gehen Sie zurück und versuchen Sie es noch einmal.
page-wrong-password-title = Anmeldung fehlgeschlagen
page-wrong-password-message = Benutzername oder Passwort falsch. Bitte gehen Sie zurück und versuchen Sie es noch einmal.
page-sign-in-unavailable-title = Anmeldung nicht möglich
page-sign-in-unavailable-message = Diese Anmeldemethode kann Passwörter gerade nicht prüfen. Bitte versuchen Sie es später noch einmal oder wählen Sie eine andere.
page-sign-in-busy-title = Anmeldung ausgelastet
page-sign-in-busy-message = Gerade laufen zu viele Anmeldungen. Bitte versuchen Sie es gleich noch einmal.
page-invalid-email-title = Ungültige E-Mail-Adresse
page-invalid-email-message = Bitte geben Sie eine E-Mail-Adresse ein.
page-email-taken-title = Sie haben bereits ein Konto
page-email-taken-message = Ein Konto mit dieser E-Mail-Adresse gibt es bereits. Melden Sie sich mit dem Anbieter an, den Sie zuvor verwendet haben, und verknüpfen Sie diesen dann auf Ihrer Kontoseite.
page-linked-elsewhere-title = Bereits verknüpft
page-linked-elsewhere-message = Diese Anmeldung ist hier bereits mit einem anderen Konto verknüpft.
page-disabled-title = Konto deaktiviert
page-disabled-message = Dieses Konto ist deaktiviert.
page-not-a-form-title = Ungültige Anfrage
page-not-a-form-message = Die Autorisierungsanfrage muss ein Formular-POST sein (application/x-www-form-urlencoded).
page-repeated-client-title = Ungültige Anfrage
page-repeated-client-message = Die Anfrage wiederholt client_id oder redirect_uri.
page-missing-client-title = Ungültige Anfrage
page-missing-client-message = Die Anfrage sagt nicht, welche App fragt (client_id fehlt).
page-unknown-client-title = Unbekannte Anwendung
page-unknown-client-message = Die App, die Sie hierher geschickt hat, ist bei diesem Dienst nicht registriert.
page-unregistered-redirect-title = Ungültige Weiterleitungsadresse
page-unregistered-redirect-message = Die App wollte Sie an eine Adresse zurückschicken, die sie nicht registriert hat. Es wurde nichts gesendet.
page-missing-redirect-title = Ungültige Anfrage
page-missing-redirect-message = Die Anfrage hat keine redirect_uri, und die App hat mehrere registriert.
page-request-expired-title = Anmeldung abgelaufen
page-request-expired-message = Diese Anmeldeanfrage ist unbekannt oder abgelaufen. Gehen Sie zurück zur App und beginnen Sie von vorn.
page-other-browser-title = Anmeldung abgelaufen
page-other-browser-message = Diese Anmeldeanfrage wurde in einem anderen Browser begonnen oder ist abgelaufen. Gehen Sie zurück zur App und beginnen Sie von vorn.
page-sign-in-needed-title = Anmeldung nötig
page-sign-in-needed-message = Bitte melden Sie sich erneut an.
page-consent-expired-title = Formular abgelaufen
page-consent-expired-message = Bitte gehen Sie zurück zur App und versuchen Sie es noch einmal.
page-session-ended-title = Abgemeldet
page-session-ended-message = Ihre Sitzung ist beendet. Gehen Sie zurück zur App und melden Sie sich erneut an.
page-signed-out-title = Abgemeldet
page-signed-out-message = Bitte melden Sie sich erneut an.
page-only-method-title = Trennen nicht möglich
page-only-method-message = Sie können Ihre einzige Anmeldemethode nicht entfernen.
page-account-form-expired-title = Formular abgelaufen
page-account-form-expired-message = Bitte gehen Sie zurück zu Ihrer Kontoseite und versuchen Sie es noch einmal.
page-start-again-title = Anmeldung fehlgeschlagen
page-start-again-message = Bitte beginnen Sie von vorn.
page-offer-expired-title = Nichts zu verknüpfen
page-offer-expired-message = Dieses Angebot, eine Anmeldemethode zu verknüpfen, ist unbekannt oder abgelaufen.
page-offer-answered-title = Nichts zu verknüpfen
page-offer-answered-message = Dieses Angebot wurde bereits beantwortet.
page-offer-unreadable-title = Nichts zu verknüpfen
page-offer-unreadable-message = Dieses Angebot kann nicht gelesen werden. Bitte beginnen Sie von vorn.
page-not-developer-title = Kein Entwicklerkonto
page-not-developer-message = Ihr Konto darf hier keine Apps registrieren. Fragen Sie die Administration.
page-not-your-app-title = App nicht gefunden
page-not-your-app-message = Diese App gibt es nicht, oder sie gehört nicht Ihnen.
page-no-app-title = App nicht gefunden
page-no-app-message = Diese App gibt es nicht.
page-too-many-apps-title = Zu viele Apps
page-too-many-apps-message = Löschen Sie eine App, bevor Sie eine weitere registrieren.

## Standard scopes
scope-openid = Sie mit Ihrem Konto anmelden
scope-profile = Ihren Namen, Benutzernamen und Ihr Bild
scope-email = Ihre E-Mail-Adresse
scope-offline_access = Angemeldet bleiben, während Sie nicht da sind
scope-groups = Die Gruppen, denen Sie angehören

# Form Post Response Mode (the page that carries the answer back to the app) and pushed requests
form-post-title = Zurück zur App
form-post-heading = Zurück zur App …
form-post-explain = Wenn nichts geschieht, drücken Sie die Schaltfläche, um fortzufahren.
form-post-continue = Weiter
page-invalid-request-uri-title = Anmeldeanfrage unbekannt
page-invalid-request-uri-message = Diese Anmeldeanfrage ist unbekannt, wurde schon verwendet oder ist abgelaufen. Gehen Sie zurück zur App und beginnen Sie von vorn.

# Sign-out pages (/logout, the return from an upstream sign-out)
page-logout-repeated-title = Automatische Abmeldung nicht möglich
page-logout-repeated-message = Die Abmeldeanfrage wiederholt einen Parameter.
page-logout-foreign-hint-title = Automatische Abmeldung nicht möglich
page-logout-foreign-hint-message = Die App hat ein Anmelde-Token gesendet, das nicht von diesem Dienst stammt.
page-logout-mismatch-title = Automatische Abmeldung nicht möglich
page-logout-mismatch-message = Die App und das Anmelde-Token gehören nicht zusammen.
page-logout-no-client-title = Automatische Abmeldung nicht möglich
page-logout-no-client-message = Die Anfrage nennt eine Rücksprungadresse, aber nicht die App, zu der sie gehört.
page-logout-unregistered-title = Automatische Abmeldung nicht möglich
page-logout-unregistered-message = Die App möchte Sie an eine Adresse weiterleiten, die sie nicht registriert hat.
page-logout-form-expired-title = Formular abgelaufen
page-logout-form-expired-message = Bitte versuchen Sie noch einmal, sich abzumelden.
page-logout-link-expired-title = Abgemeldet
page-logout-link-expired-message = Dieser Abmeldelink ist nicht mehr gültig; Sie sind bei diesem Dienst abgemeldet.
device-title = Gerät verbinden
device-heading = Gerät verbinden
device-intro = Geben Sie den Code ein, den Ihr Gerät anzeigt.
device-field = Code von Ihrem Gerät
device-wrong = Dieser Code ist ungültig. Prüfen Sie den Code auf Ihrem Gerät und versuchen Sie es erneut.
device-consent-heading = { $client } auf Ihrem Gerät möchte
device-consent-code = Ihr Gerät zeigt diesen Code:
device-consent-warning = Erlauben Sie nur, wenn Sie dies gerade selbst auf Ihrem Gerät begonnen haben und es denselben Code zeigt.
device-done-allowed = { $client } ist verbunden
device-done-allowed-text = Sie können jetzt zu Ihrem Gerät zurückkehren.
device-done-denied = { $client } wurde nicht verbunden
device-done-denied-text = Es wurde nichts geteilt. Sie können diese Seite schließen.
page-device-off-title = Nicht gefunden
page-device-off-message = Diese Seite gibt es hier nicht.
page-device-too-many-title = Zu viele falsche Codes
page-device-too-many-message = Es wurden zu viele falsche Codes eingegeben. Warten Sie eine Weile und versuchen Sie es dann mit dem Code auf Ihrem Gerät erneut.
page-device-gone-title = Code ungültig
page-device-gone-message = Dieser Code ist nicht mehr gültig: Er wurde verwendet oder ist abgelaufen. Beginnen Sie auf Ihrem Gerät neu.
