# Bridgekeeper's pages in Korean (한국어). Must have every message of en.ftl.

## Formats (filters localdate and localnumber)
format-datetime = %Y년 %-m월 %-d일 %H:%M UTC
format-group-separator = ,

## base.html
site-name = Bridgekeeper
dev-banner = 개발 모드: 개발용 로그인은 누구나 들어올 수 있습니다. 운영 환경에서는 사용하지 마세요.

## home.html
home-intro = 이곳은 신원 중개 서비스입니다. 앱이 이미 가지고 계신 계정으로 로그인하도록 이곳으로 보냅니다.
home-developers = 개발자용: OpenID Provider 설정 문서는 다음 주소에 있습니다.

## login.html
login-title = 로그인
login-heading = 로그인
login-heading-to = { $client }에 로그인
login-none = 지금은 사용할 수 있는 로그인 방법이 없습니다. 관리자에게 문의하세요.
login-continue-with = { $provider }(으)로 계속하기
login-unavailable = (현재 사용할 수 없음)

## dev_login.html
dev-title = 개발용 로그인
dev-intro = 아무 이름과 이메일이나 입력하면 그 사람으로 로그인됩니다. 데모와 테스트 전용입니다.
field-name = 이름
field-email = 이메일
button-continue = 계속
password-title = 로그인
field-username = 사용자 이름
field-password = 비밀번호
button-sign-in = 로그인

## consent.html
consent-title = 접근을 허용할까요?
consent-heading = { $client }에서 다음 권한을 요청합니다
consent-act-for = { $client }이(가) { $provider }에서 사용자를 대신하여 작업할 수 있습니다 (토큰 사용)
consent-signed-in-as = { $who }(으)로 로그인되어 있습니다. 본인이 아닌가요?
button-sign-out = 로그아웃
button-allow = 허용
button-deny = 거부

## error.html
error-request-id = 요청 ID:

## account.html
account-title = 내 계정
account-your-id = 앱에서 쓰이는 내 ID:
account-methods = 로그인 방법
account-unlink = 연결 해제
account-unlink-label = { $method } 연결 해제
account-link-another = 다른 로그인 방법 연결
account-link = { $provider } 연결
account-apps = 허용한 앱
account-no-apps = 없음.
account-revoke = 접근 권한 취소
account-revoke-label = { $app }의 접근 권한 취소
account-acts-for = { $provider }에서 사용자를 대신하여 작업할 수 있음
account-revoke-exchange = 중지

## link_confirm.html, link_offer.html
link-title = 로그인 방법 연결
link-question = { $method }을(를) 내 계정의 로그인 방법으로 추가할까요?
link-only-if = 방금 직접 { $provider }(으)로 로그인한 경우에만 진행하세요.
link-do-not = 연결하지 않기
offer-title = 이미 계정이 있습니다
offer-exists = 이메일 주소 { $email }을(를) 쓰는 계정이 이미 있습니다.
offer-exists-no-email = 사용하신 이메일 주소로 된 계정이 이미 있습니다.
offer-how = 이 로그인 방법을 추가하려면 이전에 로그인했던 방법으로 로그인하세요. 확인을 요청받게 됩니다.
offer-sign-in = 이전에 쓰던 방법으로 로그인

## logged_out.html, logout_confirm.html
logged-out-title = 로그아웃됨
logged-out-heading = 로그아웃되었습니다
logged-out-close = 이 창을 닫으셔도 됩니다.
logged-out-apps = 이 세션에서 사용한 앱에서도 로그아웃하고 있습니다.
logged-out-frame-title = 앱에서 로그아웃하는 중
logged-out-continue = 계속
logout-title = 로그아웃할까요?
logout-asked = 한 앱이 이 서비스에서 로그아웃하도록 요청했습니다.
logout-upstream-also = { $provider }에서도 로그아웃

## developer.html
dev-portal-title = 개발자 포털
dev-apps = 내 앱
dev-no-apps = 아직 등록한 앱이 없습니다.
dev-disabled = (비활성화됨)
dev-register = 앱 등록
dev-logo = 로고 URL (https, 선택 사항)
dev-redirect-uris = 리디렉션 URI (한 줄에 하나)
dev-post-logout-uris-optional = 로그아웃 후 리디렉션 URI (한 줄에 하나, 선택 사항)
dev-post-logout-uris = 로그아웃 후 리디렉션 URI (한 줄에 하나)
dev-type = 유형
dev-confidential = 기밀 (비밀을 안전하게 보관하는 서버)
dev-public = 공개 (네이티브, 모바일 또는 단일 페이지 앱; PKCE 사용, 비밀 없음)
dev-secret-how = 기밀 앱이 비밀을 보내는 방법
dev-basic = HTTP Basic (client_secret_basic)
dev-post = 폼 본문에 담아서 (client_secret_post)
dev-scopes = 범위(스코프)
dev-needs-approval = (관리자 승인 필요)
dev-register-button = 등록
dev-redirect-rules = 리디렉션 URI: https, 또는 개발 중에는 127.0.0.1, [::1], localhost의 http; 프래그먼트와 와일드카드는 허용되지 않으며, 사용자 지정 스킴(com.example.app:/cb)은 공개 앱에서만 쓸 수 있습니다.

## developer_app.html
app-client-id = 클라이언트 ID
app-type = 유형
app-type-confidential = 기밀
app-type-public = 공개
app-auth = 토큰 엔드포인트 인증 방식
app-scopes = 범위(스코프)
app-pending = 승인 대기 중
app-status = 상태
app-disabled = 비활성화됨
app-active = 활성
app-previous-secret = 이전 비밀
app-works-until = { $time }까지 유효
app-discovery = 디스커버리
app-sign-ins = 로그인 수
app-count-day = 최근 24시간:
app-count-week = 최근 7일:
app-count-month = 최근 30일:
app-settings = 설정
button-save = 저장
app-actions = 작업
app-rotate = 비밀 교체
app-enable = 활성화
app-disable = 비활성화
app-delete = 삭제
app-grace = 교체한 뒤에도 이전 비밀은 { $secs }초 동안 계속 유효합니다.

## developer_secret.html
secret-title = 앱 자격 증명
secret-client-secret = 클라이언트 비밀
secret-copy-now = 지금 비밀을 복사하세요. 이번 한 번만 표시됩니다.
secret-grace = 이전 비밀은 { $time }까지 계속 유효합니다.
secret-public = 공개 앱에는 비밀이 없습니다. PKCE(S256)를 사용하세요.
secret-pending = 관리자 승인을 기다리는 범위: { $scopes }.
secret-continue = 앱으로 이동

## Error pages
page-db-down-title = 일시적으로 사용할 수 없음
page-db-down-message = 지금 서비스가 데이터베이스에 연결할 수 없습니다. 잠시 후 다시 시도하세요.
page-broken-title = 문제가 발생했습니다
page-broken-message = 이 페이지를 표시할 수 없습니다.
page-unknown-method-title = 알 수 없는 로그인 방법
page-unknown-method-message = 여기에는 그런 로그인 방법이 없습니다.
page-method-removed-title = 로그인 방법 제거됨
page-method-removed-message = 로그인하는 동안 이 로그인 방법이 제거되었습니다. 아무것도 변경되지 않았습니다. 처음부터 다시 시작하여 다른 방법을 선택하세요.
page-method-changed-title = 로그인 방법 변경됨
page-method-changed-message = 로그인하는 동안 이 로그인 방법이 변경되었습니다. 아무것도 변경되지 않았습니다. 처음부터 다시 시작하세요.
page-sign-in-first-title = 먼저 로그인하세요
page-sign-in-first-message = 다른 계정을 연결하기 전에 로그인하세요.
page-sign-in-again-title = 다시 로그인하세요
page-sign-in-again-message = 안전을 위해 다른 계정을 연결하기 전에 (로그인 페이지에서) 다시 로그인한 뒤 계정 페이지로 돌아오세요.
page-upstream-down-title = 로그인 제공자를 사용할 수 없음
page-upstream-down-message = 로그인 제공자가 제대로 응답하지 않았습니다. 나중에 다시 시도하거나 다른 방법을 선택하세요.
page-upstream-rejected-title = 로그인 실패
page-upstream-rejected-message = 로그인 제공자의 응답을 확인할 수 없습니다. 아무것도 변경되지 않았습니다. 처음부터 다시 시작하세요.
page-upstream-cancelled-title = 로그인 취소됨
page-upstream-cancelled-message = 로그인 제공자에서 로그인이 취소되었습니다.
page-too-many-title = 시도 횟수 초과
page-too-many-message = 잠시 기다린 후 다시 시도하세요.
page-forged-title = 로그인 실패
page-forged-message = 이 로그인 응답은 알 수 없거나, 만료되었거나, 이미 사용되었거나, 다른 브라우저에서 온 것입니다. 아무것도 변경되지 않았습니다. 처음부터 다시 시작하세요.
page-no-form-title = 사용할 수 없음
page-no-form-message = 이 로그인 방법은 양식을 받지 않습니다.
page-form-expired-title = 양식이 만료됨
page-form-expired-message = 뒤로 돌아가 다시 시도하세요.
page-wrong-password-title = 로그인 실패
page-wrong-password-message = 사용자 이름 또는 비밀번호가 틀렸습니다. 뒤로 돌아가 다시 시도하세요.
page-sign-in-unavailable-title = 로그인할 수 없음
page-sign-in-unavailable-message = 이 로그인 방법은 지금 비밀번호를 확인할 수 없습니다. 나중에 다시 시도하거나 다른 방법을 선택하세요.
page-sign-in-busy-title = 로그인 혼잡
page-sign-in-busy-message = 지금 진행 중인 로그인이 너무 많습니다. 잠시 후 다시 시도하세요.
page-invalid-email-title = 잘못된 이메일
page-invalid-email-message = 이메일 주소를 입력하세요.
page-email-taken-title = 이미 계정이 있습니다
page-email-taken-message = 이 이메일 주소를 쓰는 계정이 이미 있습니다. 이전에 사용한 제공자로 로그인한 뒤 계정 페이지에서 이 방법을 연결하세요.
page-linked-elsewhere-title = 이미 연결된 계정
page-linked-elsewhere-message = 이 로그인은 이미 여기의 다른 계정에 연결되어 있습니다.
page-disabled-title = 비활성화된 계정
page-disabled-message = 이 계정은 비활성화되었습니다.
page-not-a-form-title = 잘못된 요청
page-not-a-form-message = 인가 요청은 폼 POST(application/x-www-form-urlencoded)여야 합니다.
page-repeated-client-title = 잘못된 요청
page-repeated-client-message = 요청에 client_id 또는 redirect_uri가 반복되어 있습니다.
page-missing-client-title = 잘못된 요청
page-missing-client-message = 요청에 어떤 앱이 요청하는지 나와 있지 않습니다(client_id 없음).
page-unknown-client-title = 알 수 없는 애플리케이션
page-unknown-client-message = 이곳으로 보낸 앱은 이 서비스에 등록되어 있지 않습니다.
page-unregistered-redirect-title = 잘못된 리디렉션 주소
page-unregistered-redirect-message = 앱이 등록하지 않은 주소로 돌려보내 달라고 요청했습니다. 아무것도 전송되지 않았습니다.
page-missing-redirect-title = 잘못된 요청
page-missing-redirect-message = 요청에 redirect_uri가 없고, 앱은 여러 개를 등록했습니다.
page-request-expired-title = 로그인 만료
page-request-expired-message = 이 로그인 요청은 알 수 없거나 만료되었습니다. 앱으로 돌아가 다시 시작하세요.
page-other-browser-title = 로그인 만료
page-other-browser-message = 이 로그인 요청은 다른 브라우저에서 시작되었거나 만료되었습니다. 앱으로 돌아가 다시 시작하세요.
page-sign-in-needed-title = 로그인 필요
page-sign-in-needed-message = 다시 로그인하세요.
page-consent-expired-title = 양식이 만료됨
page-consent-expired-message = 앱으로 돌아가 다시 시도하세요.
page-session-ended-title = 로그아웃됨
page-session-ended-message = 세션이 끝났습니다. 앱으로 돌아가 다시 로그인하세요.
page-signed-out-title = 로그아웃됨
page-signed-out-message = 다시 로그인하세요.
page-only-method-title = 연결을 해제할 수 없음
page-only-method-message = 유일한 로그인 방법은 제거할 수 없습니다.
page-account-form-expired-title = 양식이 만료됨
page-account-form-expired-message = 계정 페이지로 돌아가 다시 시도하세요.
page-start-again-title = 로그인 실패
page-start-again-message = 처음부터 다시 시작하세요.
page-offer-expired-title = 연결할 항목 없음
page-offer-expired-message = 이 로그인 방법 연결 제안은 알 수 없거나 만료되었습니다.
page-offer-answered-title = 연결할 항목 없음
page-offer-answered-message = 이 제안에는 이미 응답했습니다.
page-offer-unreadable-title = 연결할 항목 없음
page-offer-unreadable-message = 이 제안을 읽을 수 없습니다. 처음부터 다시 시작하세요.
page-not-developer-title = 개발자가 아님
page-not-developer-message = 이 계정으로는 여기에서 앱을 등록할 수 없습니다. 관리자에게 문의하세요.
page-not-your-app-title = 앱을 찾을 수 없음
page-not-your-app-message = 이 앱이 없거나 내 앱이 아닙니다.
page-no-app-title = 앱을 찾을 수 없음
page-no-app-message = 이 앱이 없습니다.
page-too-many-apps-title = 앱이 너무 많음
page-too-many-apps-message = 다른 앱을 등록하기 전에 앱 하나를 삭제하세요.

## Standard scopes
scope-openid = 내 계정으로 로그인
scope-profile = 이름, 사용자 이름, 사진
scope-email = 이메일 주소
scope-offline_access = 자리를 비운 동안에도 로그인 상태 유지
scope-groups = 내가 속한 그룹

# Form Post Response Mode (the page that carries the answer back to the app) and pushed requests
form-post-title = 앱으로 돌아가는 중
form-post-heading = 앱으로 돌아가는 중…
form-post-explain = 아무 일도 일어나지 않으면 버튼을 눌러 계속하세요.
form-post-continue = 계속
page-invalid-request-uri-title = 알 수 없는 로그인 요청
page-invalid-request-uri-message = 이 로그인 요청은 알 수 없거나 이미 사용되었거나 만료되었습니다. 앱으로 돌아가 다시 시작하세요.

# Sign-out pages (/logout, the return from an upstream sign-out)
page-logout-repeated-title = 자동으로 로그아웃할 수 없습니다
page-logout-repeated-message = 로그아웃 요청에 같은 매개변수가 두 번 있습니다.
page-logout-foreign-hint-title = 자동으로 로그아웃할 수 없습니다
page-logout-foreign-hint-message = 앱이 이 서비스가 발급하지 않은 로그인 토큰을 보냈습니다.
page-logout-mismatch-title = 자동으로 로그아웃할 수 없습니다
page-logout-mismatch-message = 앱과 로그인 토큰이 서로 맞지 않습니다.
page-logout-no-client-title = 자동으로 로그아웃할 수 없습니다
page-logout-no-client-message = 요청에 돌아갈 주소는 있지만 그 주소가 속한 앱이 없습니다.
page-logout-unregistered-title = 자동으로 로그아웃할 수 없습니다
page-logout-unregistered-message = 앱이 등록하지 않은 주소로 보내려고 했습니다.
page-logout-form-expired-title = 양식이 만료되었습니다
page-logout-form-expired-message = 다시 로그아웃해 보세요.
page-logout-link-expired-title = 로그아웃됨
page-logout-link-expired-message = 이 로그아웃 링크는 더 이상 유효하지 않습니다. 이 서비스에서는 로그아웃되었습니다.
device-title = 기기 연결
device-heading = 기기 연결
device-intro = 기기에 표시된 코드를 입력하세요.
device-field = 기기의 코드
device-wrong = 올바른 코드가 아닙니다. 기기에 표시된 코드를 확인하고 다시 시도하세요.
device-consent-heading = 기기의 { $client }에서 다음을 요청합니다
device-consent-code = 기기에 표시된 코드:
device-consent-warning = 방금 직접 기기에서 시작했고 같은 코드가 표시되는 경우에만 허용하세요.
device-done-allowed = { $client } 연결됨
device-done-allowed-text = 이제 기기로 돌아가셔도 됩니다.
device-done-denied = { $client } 연결 안 됨
device-done-denied-text = 아무것도 공유되지 않았습니다. 이 페이지를 닫으셔도 됩니다.
page-device-off-title = 찾을 수 없음
page-device-off-message = 여기에 그런 페이지가 없습니다.
page-device-too-many-title = 잘못된 코드가 너무 많음
page-device-too-many-message = 잘못된 코드가 너무 많이 입력되었습니다. 잠시 기다린 후 기기에 표시된 코드로 다시 시도하세요.
page-device-gone-title = 유효하지 않은 코드
page-device-gone-message = 이 코드는 더 이상 유효하지 않습니다. 이미 사용되었거나 만료되었습니다. 기기에서 다시 시작하세요.
