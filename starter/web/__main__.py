from runtime.settings import load_settings
from starter.web.app import serve

if __name__ == "__main__":
    serve(load_settings())
