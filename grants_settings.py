# grants_settings.py
SECRET_KEY = "change me"
ALLOWED_HOSTS = ["www.example.com"]
ROOT_URLCONF = "grants_urls"
CLOUDFRONT_COOKIES = {"rules": [], "cookie_domain": ".example.com"}  # key from the environment
