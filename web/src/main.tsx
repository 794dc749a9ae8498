import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import { ApiError } from './api/client';
import { Home } from './layout/Home';
import { Login } from './layout/Login';
import { Shell } from './layout/Shell';
import { NotFound } from './layout/NotFound';
import { pages } from './pages';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      // A 4xx will answer the same again; a network error or a 5xx may not.
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
    },
  },
});

const router = createBrowserRouter([
  { path: '/login', element: <Login /> },
  { path: '/', element: <Home /> },
  {
    path: '/w/:ws/:env',
    element: <Shell />,
    children: [
      { index: true, element: <Navigate to="resources" replace /> },
      ...pages.map(({ path, Component }) => ({ path, element: <Component /> })),
      { path: '*', element: <NotFound /> },
    ],
  },
  { path: '*', element: <NotFound standalone /> },
]);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
