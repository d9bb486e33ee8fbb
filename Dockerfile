# The app image: the library, the deployable functions and the examples they bundle.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY agentkit_inngest ./agentkit_inngest
RUN pip install --no-cache-dir .
COPY functions ./functions
COPY examples ./examples
EXPOSE 8000
CMD ["uvicorn", "functions.app:app", "--host", "0.0.0.0", "--port", "8000"]
