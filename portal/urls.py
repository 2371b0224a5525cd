from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.signin import ThrottledLoginView
from apps.core.views import favicon

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("apps.accounts.api_urls")),
    path("", include("apps.projects.api_urls")),
    path("", include("apps.datasets.api_urls")),
    path("", include("apps.iterations.api_urls")),
    path("", include("apps.approvals.api_urls")),
    path("", include("apps.deployments.api_urls")),
    path("", include("apps.audit.api_urls")),
    path("", include("apps.dashboards.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, which the content security policy
    # allows, where the plain view would inline it.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    # Listed before Django's auth URLs so that sign-in goes through the failure limits.
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_patterns)),
    path("", include("apps.accounts.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.iterations.urls")),
    path("", include("apps.approvals.urls")),
    path("", include("apps.deployments.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.dashboards.urls")),
]

handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
