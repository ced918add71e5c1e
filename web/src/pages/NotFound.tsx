import { useTitle } from '../lib/hooks';

export function NotFound() {
  useTitle('Not found');
  return (
    <div class="card">
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
      <a href="/">Go home</a>
    </div>
  );
}
