from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    # The library's own URLs, mounted where its documentation puts them.
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
